export interface FfmpegProgressOptions {
  /** The clock (tests). */
  now?: () => number
  /**
   * Wall seconds the whole encode is expected to take, from recent jobs (expectedTranscodeSeconds);
   * the time left starts from it and moves to the measured pace as the encode advances.
   */
  expectedSeconds?: number | null
}

/**
 * How much the measured pace counts against the expectation: at a fraction f done, the measured
 * pace has weight f / (f + PRIOR_WEIGHT): a tenth of it at 1%, half at 10%, nine tenths at 50%.
 * The first percent of an encode (probing, filling the encoder's lookahead) says little about the rest.
 */
const PRIOR_WEIGHT = 0.1

/**
 * Reads ffmpeg's `-progress` output (key=value lines, a block per report) into a fraction of the
 * source duration done and an estimate of the time left.
 */
export class FfmpegProgress {
  private buffer = ''
  private fraction = 0
  private readonly now: () => number
  private readonly expectedSeconds: number | null
  private readonly started: number
  private firstAt: { time: number, fraction: number } | null = null

  constructor (private readonly durationSeconds: number, options: FfmpegProgressOptions | (() => number) = {}) {
    const o = typeof options === 'function' ? { now: options } : options
    this.now = o.now ?? Date.now
    this.expectedSeconds = o.expectedSeconds !== undefined && o.expectedSeconds !== null && o.expectedSeconds > 0 ? o.expectedSeconds : null
    this.started = this.now()
  }

  /** Feeds a chunk of stdout; returns the new fraction (0..1) when a report completed, else null. */
  push (chunk: string): number | null {
    this.buffer += chunk
    const lines = this.buffer.split('\n')
    this.buffer = lines.pop() ?? ''
    let reported: number | null = null
    for (const raw of lines) {
      const eq = raw.indexOf('=')
      if (eq < 0) continue
      const key = raw.slice(0, eq).trim()
      const value = raw.slice(eq + 1).trim()
      // out_time_us and (despite its name) out_time_ms are both microseconds.
      if ((key === 'out_time_us' || key === 'out_time_ms') && /^\d+$/.test(value) && this.durationSeconds > 0) {
        this.fraction = Math.min(1, Math.max(this.fraction, Number(value) / 1e6 / this.durationSeconds))
      } else if (key === 'progress') {
        if (value === 'end') this.fraction = 1
        this.firstAt ??= { time: this.now(), fraction: this.fraction }
        reported = this.fraction
      }
    }
    return reported
  }

  get done (): number {
    return this.fraction
  }

  /**
   * Seconds left: the expectation (if any) for what is left, blended with the pace measured since
   * the first report, which counts more as the encode advances; null with neither.
   */
  etaSeconds (): number | null {
    if (this.fraction >= 1) return 0
    const measured = this.measuredSecondsLeft()
    const prior = this.expectedSeconds === null ? null : this.expectedSeconds * (1 - this.fraction)
    if (prior === null) return measured === null ? null : Math.round(measured)
    if (measured === null) return Math.round(prior)
    const w = this.fraction / (this.fraction + PRIOR_WEIGHT)
    return Math.round(w * measured + (1 - w) * prior)
  }

  private measuredSecondsLeft (): number | null {
    const first = this.firstAt
    const elapsed = (this.now() - (first?.time ?? this.started)) / 1000
    const doneSince = this.fraction - (first?.fraction ?? 0)
    if (elapsed <= 0 || doneSince <= 0.005) return null
    return elapsed * (1 - this.fraction) / doneSince
  }
}
