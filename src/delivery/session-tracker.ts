import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import { addSample, estimateBps, lowEstimateBps, newEstimator, type EstimatorState } from '../abr/bandwidth-estimator.js'
import { bufferSeconds, newBufferModel, onSegment, type BufferModelState } from '../abr/buffer-model.js'
import { chooseRendition, safeStartIndex } from '../abr/choose-rendition.js'
import type { Cmcd } from '../abr/cmcd.js'
import { networkPrefix } from '../abr/network-prefix.js'
import { newSessionId } from '../abr/session-id.js'
import type { SessionStore } from '../abr/session-store.js'
import { sampleFromDelivery, sampleFromGap, type SegmentDelivery } from '../abr/sample-from-delivery.js'
import { edgeDelivery, type EdgeLogLine } from '../abr/edge-log-line.js'
import type { ThroughputSample } from '../abr/throughput-sample.js'

/** One viewing session's state, as kept in the session store (plain JSON). */
export interface AbrSession {
  estimator: EstimatorState
  /** estimateBps(estimator), kept so that answering a segment never recomputes it */
  estimate: number | null
  buffer: BufferModelState
  /** ladder index served last by /adaptive_stream, or chosen for the master */
  current: number | null
  /** segments served in a row at `current` (a step up waits for a few) */
  held: number
  /** smallest request gap seen after a small answer: an upper bound on the round trip, ms */
  rttMs: number | null
  /** the network the session plays from, to remember what it achieved */
  network: string | null
}

interface NetworkMemo { bps: number }

/** What the session store holds: sessions (`s:<sid>`) and what networks achieved (`net:<prefix>`). */
export type SessionValue = AbrSession | NetworkMemo

/** A ladder as the choice rule sees it: rung bitrates ascending. */
export interface Ladder { peakBps: number[], averageBps: number[] }

type Awaited = { sid: string, delivery: SegmentDelivery } | { sid: string, smallFinishMs: number }
// Kept beside Node's request and socket objects, never on them: a property added to those changes
// their shape for every access inside Node's HTTP and socket code.
const arrivals = new WeakMap<IncomingMessage, number>()
const awaiting = new WeakMap<Socket, Awaited>()

function newSession (): AbrSession {
  return { estimator: newEstimator(null), estimate: null, buffer: newBufferModel(), current: null, held: 0, rttMs: null, network: null }
}

/** Whether a request names the session `sid` (in its URL, or in CMCD-Session as hls.js sends it). */
function sameSession (req: IncomingMessage, sid: string): boolean {
  if (req.url?.includes('sid=' + sid) === true) return true
  const header = req.headers['cmcd-session']
  return typeof header === 'string' && header.includes(`sid="${sid}"`)
}

/** Wall-clock milliseconds with sub-millisecond resolution (durations need it; Date.now() does not have it). */
const now = (): number => performance.timeOrigin + performance.now()

/** Bodies at most this large say nothing about throughput, but their follow-up request bounds the RTT. */
const SMALL_BODY = 16 * 1024
const KBPS = 1000
/** The most of an inter-request gap that is put down to the round trip. */
const RTT_SHARE_MAX = 0.25
const DONE = Promise.resolve()

/**
 * Delivery's side of adaptive bitrate: stamps each request's arrival, turns delivered segments
 * into throughput samples of their viewing session (a sample at 'finish' when the kernel really
 * pushed back, or from the gap to the next request on the same connection), keeps each session's
 * estimate in the session store, and answers the choices (which variant first, which rendition
 * for an adaptive segment) with the pure rules of src/abr.
 */
export class SessionTracker {
  readonly #sessions: SessionStore<SessionValue>
  readonly #log: FastifyBaseLogger
  /** Updates of one session run one after another, so a read-modify-write never loses a sample on this node. */
  readonly #queues = new Map<string, Promise<void>>()
  /** With nginx's access log arriving (ABR_EDGE_LOG_PORT), requests that came through a proxy are sampled from it, not here. */
  readonly #edge: boolean
  /** The last logged request of each of nginx's client connections. */
  readonly #edgeConnections = new Map<string, EdgeLogLine>()

  constructor (sessions: SessionStore<SessionValue>, log: FastifyBaseLogger, options: { edgeLog?: boolean } = {}) {
    this.#sessions = sessions
    this.#log = log
    this.#edge = options.edgeLog === true
  }

  /**
   * One request of a session as nginx logged it (every node gets every line). With the request
   * before it on the same client connection, it makes an inter-request sample, recorded by the one
   * node that claims the line first.
   */
  async edgeLine (line: EdgeLogLine): Promise<void> {
    const prev = this.#edgeConnections.get(line.connection)
    this.#edgeConnections.delete(line.connection)
    if (this.#edgeConnections.size >= 10_000) this.#edgeConnections.delete(this.#edgeConnections.keys().next().value!)
    this.#edgeConnections.set(line.connection, line)
    if (prev === undefined) return
    const delivery = edgeDelivery(prev, line)
    if (delivery === null || delivery.bytes <= SMALL_BODY) return
    const sample = sampleFromGap(delivery, line.arrivalMs, line.rttMs ?? 0)
    if (sample === null || !await this.#sessions.claimOnce('edge:' + line.requestId)) return
    await this.#update(line.sid, (s) => this.#withSample(s, sample))
  }

  /** Whether this node's own view of a request says nothing about the viewer's link (it came through a proxy that logs it for us). */
  #proxied (req: IncomingMessage): boolean {
    return this.#edge && req.headers['x-forwarded-for'] !== undefined
  }

  /** Called for every request before routing: its arrival time, and the gap sample the previous answer on this connection was waiting for. */
  arrived (req: IncomingMessage): void {
    const socket = req.socket
    const last = awaiting.get(socket)
    // Most requests name no session and follow none: they cost a property read and a search.
    if (last === undefined && req.url?.includes('sid=') !== true) return
    const t = now()
    arrivals.set(req, t)
    if (last === undefined || this.#proxied(req)) return
    awaiting.delete(socket)
    // A connection may carry other viewers' requests (a proxy's keep-alive upstream): only the same
    // session's next request says when its previous answer arrived.
    if (!sameSession(req, last.sid)) return
    if ('smallFinishMs' in last) {
      const gap = t - last.smallFinishMs
      this.#update(last.sid, (s) => (s.rttMs === null || gap < s.rttMs ? { ...s, rttMs: gap } : s))
      return
    }
    const { sid, delivery } = last
    this.#update(sid, (s) => {
      // The round trip is known only from gaps after small answers, and one slow gap would make
      // every later sample too fast: subtract at most a quarter of this gap (the safe side).
      const sample = sampleFromGap(delivery, t, Math.min(s.rttMs ?? 0, RTT_SHARE_MAX * (t - delivery.arrivalMs)))
      return sample === null ? s : this.#withSample(s, sample)
    })
  }

  arrivalOf (req: IncomingMessage): number {
    return arrivals.get(req) ?? now()
  }

  /** A small answer (a playlist) of a session went out: the next request on its connection bounds the RTT. */
  answeredSmall (res: ServerResponse, sid: string): void {
    const socket = res.socket
    if (socket === null) return
    res.once('finish', () => { awaiting.set(socket, { sid, smallFinishMs: now() }) })
  }

  /**
   * A segment (or range) of `bytes` was just handed to res.end(): how much of it the kernel took at
   * once is read now, the rest when 'finish' fires.
   */
  delivered (req: IncomingMessage, res: ServerResponse, sid: string, bytes: number, segmentSeconds: number, cmcd: Cmcd | undefined, buffered = false): void {
    const socket = res.socket as (Socket & { _handle?: { writeQueueSize?: number } }) | null
    if (socket === null || bytes <= 0) return
    const arrivalMs = this.arrivalOf(req)
    // The player's buffer as of this request (choose() has done it for an adaptive segment).
    if (!buffered) this.#update(sid, (s) => ({ ...s, buffer: onSegment(s.buffer, arrivalMs, segmentSeconds, cmcd?.bl) }))
    const queued = socket._handle?.writeQueueSize ?? 0
    const acceptedBytes = Math.max(0, Math.min(bytes, bytes - queued))
    // A player that reports its own throughput (CMCD mtp) has been sampled at arrival (reported()).
    const measured = cmcd?.mtp === undefined && !this.#proxied(req)
    const finished = (): void => {
      const delivery: SegmentDelivery = { bytes, arrivalMs, finishMs: now(), acceptedBytes, segmentSeconds }
      const sample = !measured || bytes <= SMALL_BODY ? null : sampleFromDelivery(delivery)
      const next: Awaited | undefined = !measured ? undefined : sample === null ? (bytes <= SMALL_BODY ? { sid, smallFinishMs: delivery.finishMs } : { sid, delivery }) : undefined
      if (next === undefined) awaiting.delete(socket)
      else awaiting.set(socket, next)
      if (sample !== null) this.#update(sid, (s) => this.#withSample(s, sample))
    }
    // The kernel took the whole answer at once: it has been handed over already ('finish' would
    // only say so later), and no 'finish' sample can come of it.
    if (queued === 0) finished()
    else res.once('finish', finished)
  }

  /**
   * What a player says of its own downloads (CMCD mtp, kbit/s) as a sample of its session, taken when
   * the request arrives so that the choice made for this very request already uses it. Weighted as
   * the transfer of `bytesFor(session)` at that rate (the segment about to be sent), so that a slow
   * report counts for as long as such a segment would take, as measured samples do.
   */
  reported (req: IncomingMessage, sid: string, cmcd: Cmcd | undefined, bytesFor: (s: AbrSession) => number): Promise<void> | undefined {
    if (cmcd?.mtp === undefined) return undefined
    const arrivalMs = this.arrivalOf(req)
    const mtpKbps = cmcd.mtp
    return this.#update(sid, (s) => {
      const bytes = Math.max(1, Math.round(bytesFor(s)))
      const sample = sampleFromDelivery({ bytes, arrivalMs, finishMs: arrivalMs, acceptedBytes: bytes, mtpKbps })
      return sample === null ? s : this.#withSample(s, sample)
    })
  }

  /** The session a master or adaptive playlist opens or continues, and what is known of its bandwidth. */
  async open (sid: string | undefined, ip: string | undefined): Promise<{ sid: string, estimateBps: number | null }> {
    const id = sid ?? newSessionId()
    const known = sid === undefined ? undefined : await this.#get(id)
    if (known !== undefined) return { sid: id, estimateBps: known.estimate }
    const network = networkPrefix(ip) ?? null
    const memo = network === null ? undefined : await this.#sessions.get('net:' + network) as NetworkMemo | undefined
    const initial = memo?.bps ?? null
    const estimator = newEstimator(initial)
    const session: AbrSession = { estimator, estimate: estimateBps(estimator), buffer: newBufferModel(), current: null, held: 0, rttMs: null, network }
    await this.#sessions.set('s:' + id, session)
    return { sid: id, estimateBps: session.estimate }
  }

  /** Index of the variant to list first for an estimate (a safe start when nothing is known). */
  firstVariant (ladder: Ladder, estimate: number | null): number {
    // A player starts with the variant listed first and then runs its own ABR: the highest rung
    // under 1.5 Mbit/s, or under 0.9 of what the session or its network is known to carry.
    return safeStartIndex(ladder.peakBps, estimate)
  }

  /**
   * The rendition (ladder index) to serve for segment `index` of an adaptive session, chosen when its
   * request arrives: the buffer is brought up to this request first (the segment before it has
   * arrived by now), then the rule of src/abr/choose-rendition.ts decides.
   */
  async choose (req: IncomingMessage, sid: string, ladder: Ladder, segmentSeconds: number, remainingSeconds: number, cmcd: Cmcd | undefined): Promise<{ index: number, estimateBps: number | null }> {
    const arrivalMs = this.arrivalOf(req)
    let chosen = 0
    let estimate: number | null = null
    await this.#update(sid, (s) => {
      estimate = s.estimate
      const buffer = onSegment(s.buffer, arrivalMs, segmentSeconds, cmcd?.bl)
      chosen = chooseRendition({
        ladderBps: ladder.peakBps,
        averageBps: ladder.averageBps,
        estimateBps: estimate,
        lowEstimateBps: lowEstimateBps(s.estimator),
        bufferSeconds: bufferSeconds(buffer, arrivalMs),
        current: s.current,
        heldSegments: s.held,
        remainingSeconds,
        segmentSeconds
      })
      return { ...s, buffer, current: chosen, held: chosen === s.current ? s.held + 1 : 1 }
    })
    return { index: chosen, estimateBps: estimate }
  }

  /** CMSD-Dynamic for a session from this node's copy (never waits): etp and, when known, the maximum suggested bitrate. */
  cmsdDynamic (sid: string, maxSuggestedBps: number | undefined): string | undefined {
    const estimate = (this.#sessions.peek('s:' + sid) as AbrSession | undefined)?.estimate ?? null
    if (estimate === null) return undefined
    const etp = Math.round(estimate / KBPS)
    return maxSuggestedBps === undefined ? `etp=${etp}` : `etp=${etp},mb=${Math.round(maxSuggestedBps / KBPS)}`
  }

  /** This node's copy of a session (tests and metrics). */
  peek (sid: string): AbrSession | undefined {
    return this.#sessions.peek('s:' + sid) as AbrSession | undefined
  }

  /**
   * The sessions this node changed within the last `withinMs` (a segment or playlist answered, a
   * sample taken) and their bandwidth estimates, bits/s (null while unknown). Read-only, for /metrics.
   */
  active (withinMs: number): Array<number | null> {
    return this.#sessions.recent('s:', withinMs).map((s) => (s as AbrSession).estimate)
  }

  /** Resolves once every update queued so far has been written. */
  async settled (): Promise<void> {
    await Promise.all([...this.#queues.values()])
  }

  /** Whether what the session's network achieved is worth writing down again (it moved by 2% or more). */
  #networkChanged (before: AbrSession, after: AbrSession): boolean {
    if (after.network === null || after.estimate === null || after.estimator === before.estimator) return false
    return before.estimate === null || Math.abs(after.estimate - before.estimate) >= 0.02 * before.estimate
  }

  #withSample (s: AbrSession, sample: ThroughputSample): AbrSession {
    const estimator = addSample(s.estimator, sample)
    return { ...s, estimator, estimate: estimateBps(estimator) }
  }

  async #get (sid: string): Promise<AbrSession | undefined> {
    const s = await this.#sessions.get('s:' + sid)
    return s !== undefined && 'estimator' in s ? s : undefined
  }

  #update (sid: string, change: (s: AbrSession) => AbrSession): Promise<void> {
    // Without Redis the state is this process's alone: change it at once, with no promise.
    if (!this.#sessions.shared) {
      const s = (this.#sessions.peek('s:' + sid) as AbrSession | undefined) ?? newSession()
      const changed = change(s)
      if (changed !== s) {
        this.#sessions.setLocal('s:' + sid, changed)
        if (this.#networkChanged(s, changed)) this.#sessions.setLocal('net:' + changed.network!, { bps: changed.estimate! })
      }
      return DONE
    }
    const previous = this.#queues.get(sid) ?? Promise.resolve()
    const next = previous.then(async () => {
      const s = await this.#get(sid) ?? newSession()
      const changed = change(s)
      if (changed === s) return
      await this.#sessions.set('s:' + sid, changed)
      if (this.#networkChanged(s, changed)) await this.#sessions.set('net:' + changed.network!, { bps: changed.estimate! })
    }).catch((err: unknown) => { this.#log.warn({ err }, 'could not update a viewing session') })
      .finally(() => { if (this.#queues.get(sid) === next) this.#queues.delete(sid) })
    this.#queues.set(sid, next)
    return next
  }
}
