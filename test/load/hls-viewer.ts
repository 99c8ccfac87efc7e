import http from 'node:http'
import { performance } from 'node:perf_hooks'

/** One playable video as the load test sees it: a media playlist's segment URLs and durations. */
export interface Playable {
  id: string
  masterPath: string
  mediaPath: string
  segments: Array<{ path: string, seconds: number }>
}

export type Kind = 'master' | 'playlist' | 'segment' | 'range' | 'search' | 'upload'

/** What every request of the run adds to: per-kind latencies, bytes, errors. */
export class Tally {
  readonly latencyMs = new Map<Kind, number[]>()
  readonly bytesByKind = new Map<Kind, number>()
  requests = 0
  errors = 0
  bytes = 0
  readonly errorSamples: string[] = []

  add (kind: Kind, ms: number, bytes: number, ok: boolean, why?: string): void {
    this.requests++
    this.bytes += bytes
    this.bytesByKind.set(kind, (this.bytesByKind.get(kind) ?? 0) + bytes)
    if (!ok) {
      this.errors++
      if (this.errorSamples.length < 5 && why !== undefined) this.errorSamples.push(`${kind}: ${why}`)
    }
    let list = this.latencyMs.get(kind)
    if (list === undefined) this.latencyMs.set(kind, list = [])
    list.push(ms)
  }
}

export function percentile (values: number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]!
}

/** GET over a keep-alive agent; resolves with status and body length (the body is drained, not kept unless asked). */
export function get (base: string, path: string, agent: http.Agent, keep = false, headers: Record<string, string> = {}): Promise<{ status: number, bytes: number, body?: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(base + path, { agent, headers }, (res) => {
      let bytes = 0
      const pieces: Buffer[] = []
      res.on('data', (d: Buffer) => {
        bytes += d.byteLength
        if (keep) pieces.push(d)
      })
      res.on('end', () => resolve({ status: res.statusCode!, bytes, body: keep ? Buffer.concat(pieces) : undefined }))
      res.on('error', reject)
    })
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')))
    req.on('error', reject)
  })
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/**
 * A viewer playing HLS like a player with a small buffer: master, media playlist, a start-up burst
 * of `burst` segments, then one segment whenever the buffer drops below `burst` segments (that
 * is, at the pace of playback). A segment that arrives after the moment playback reaches it is a
 * stall; playback then waits for it (the deadlines move on by the stall's length). At the end of a
 * video it starts another one, until `until`.
 */
export async function playHls (base: string, videos: Playable[], first: number, until: number, tally: Tally, burst = 3): Promise<{ stalls: number, segments: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  let stalls = 0
  let segments = 0
  try {
    for (let v = first; performance.now() < until; v++) {
      const video = videos[v % videos.length]!
      for (const [kind, path] of [['master', video.masterPath], ['playlist', video.mediaPath]] as const) {
        const t0 = performance.now()
        const res = await get(base, path, agent).catch((err: Error) => ({ status: 0, bytes: 0, err }))
        tally.add(kind, performance.now() - t0, res.bytes, res.status === 200, res.status === 0 ? (res as { err: Error }).err.message : `status ${res.status}`)
      }
      // cum[k]: playback time before segment k; segment k plays at playStart + cum[k].
      const cum = [0]
      for (const seg of video.segments) cum.push(cum[cum.length - 1]! + seg.seconds * 1000)
      let playStart: number | undefined
      for (let k = 0; k < video.segments.length && performance.now() < until; k++) {
        if (playStart !== undefined) {
          // Asked for when `burst - 1` segments are still buffered ahead of the one playing.
          await sleep(Math.min(until, playStart + cum[k - burst + 1]!) - performance.now())
          if (performance.now() >= until) break
        }
        const t0 = performance.now()
        const res = await get(base, video.segments[k]!.path, agent).catch((err: Error) => ({ status: 0, bytes: 0, err }))
        const arrived = performance.now()
        tally.add('segment', arrived - t0, res.bytes, res.status === 200, res.status === 0 ? (res as { err: Error }).err.message : `status ${res.status}`)
        segments++
        if (playStart === undefined) {
          // The start-up burst: playback begins once `burst` segments are in.
          if (k === burst - 1 || k === video.segments.length - 1) playStart = arrived
          continue
        }
        const deadline = playStart + cum[k]!
        if (arrived > deadline || res.status !== 200) {
          stalls++
          playStart += Math.max(0, arrived - deadline)
        }
      }
    }
  } finally {
    agent.destroy()
  }
  return { stalls, segments }
}

/** The playable videos of a target: found through search, each with its first variant's segments. */
export async function discover (base: string, limit = 20): Promise<Playable[]> {
  const agent = new http.Agent({ keepAlive: false })
  const found = await get(base, `/api/search?limit=${limit}`, agent, true)
  if (found.status !== 200) throw new Error(`GET ${base}/api/search answered ${found.status}`)
  const items = (JSON.parse(found.body!.toString()) as { items: Array<{ id: string }> }).items
  const videos: Playable[] = []
  for (const { id } of items) {
    const master = await get(base, `/hls/${id}/master.m3u8`, agent, true)
    if (master.status !== 200) continue
    // The first listed variant is the one the server suggests; players start there.
    const variant = master.body!.toString().split('\n').find((l) => l !== '' && !l.startsWith('#'))
    if (variant === undefined) continue
    const rendition = variant.split('/')[0]!
    const mediaPath = `/hls/${id}/${rendition}/index.m3u8`
    const media = await get(base, mediaPath, agent, true)
    if (media.status !== 200) continue
    const segments: Playable['segments'] = []
    let seconds = 0
    for (const line of media.body!.toString().split('\n')) {
      if (line.startsWith('#EXTINF:')) seconds = Number.parseFloat(line.slice(8))
      else if (line !== '' && !line.startsWith('#')) segments.push({ path: `/hls/${id}/${rendition}/${line.split('?')[0]!}`, seconds })
    }
    if (segments.length > 0) videos.push({ id, masterPath: `/hls/${id}/master.m3u8`, mediaPath, segments })
  }
  agent.destroy()
  return videos
}
