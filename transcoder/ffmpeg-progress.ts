/**
 * Reads ffmpeg's `-progress` output (key=value lines, a block per report) into a fraction of the
 * source duration done and an estimate of the time left.
 */
export class FfmpegProgress {
  private buffer = ''
  private fraction = 0
  private readonly started = Date.now()
  private firstAt: { time: number, fraction: number } | null = null

  constructor (private readonly durationSeconds: number, private readonly now: () => number = Date.now) {}

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

  /** Seconds left at the pace since the first report; null until there is a pace to go by. */
  etaSeconds (): number | null {
    if (this.fraction >= 1) return 0
    const first = this.firstAt
    const elapsed = (this.now() - (first?.time ?? this.started)) / 1000
    const doneSince = this.fraction - (first?.fraction ?? 0)
    if (elapsed <= 0 || doneSince <= 0.005) return null
    return Math.round(elapsed * (1 - this.fraction) / doneSince)
  }
}
