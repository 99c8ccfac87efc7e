import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import { lowEstimateBps, newEstimator } from '../abr/bandwidth-estimator.js'
import { bufferSeconds, onSegment } from '../abr/buffer-model.js'
import { chooseRendition, safeStartIndex } from '../abr/choose-rendition.js'
import type { Cmcd } from '../abr/cmcd.js'
import { networkPrefix } from '../abr/network-prefix.js'
import { newSessionId } from '../abr/session-id.js'
import type { SessionStore } from '../abr/session-store.js'
import { sampleFromDelivery, sampleFromGap, type SegmentDelivery } from '../abr/sample-from-delivery.js'
import { edgeDelivery, type EdgeLogLine } from '../abr/edge-log-line.js'
import { applySessionEvents, newSession, type AbrSession, type SessionEvent } from '../abr/session-state.js'

export type { AbrSession } from '../abr/session-state.js'

interface NetworkMemo { bps: number }

/** What the session store holds: sessions (`s:<sid>`) and what networks achieved (`net:<prefix>`). */
export type SessionValue = AbrSession | NetworkMemo

/** A ladder as the choice rule sees it: rung bitrates ascending. */
export interface Ladder { peakBps: number[], averageBps: number[] }

type Awaited = { sid: string, delivery: SegmentDelivery } | { sid: string, smallFinishMs: number }
/** What is known of one client connection: its latest session request, and the sample that request's successor completes. */
interface Connection {
  /** The latest request on this connection that named a session or completed a sample (HTTP/1.1 answers in order). */
  req: IncomingMessage | null
  arrivalMs: number
  awaited: Awaited | undefined
}
// Kept beside Node's socket objects, never on them: a property added to those changes their shape
// for every access inside Node's HTTP and socket code. Keyed by the socket, not the request: a
// WeakMap entry per request (short-lived keys) cost the fast path a third of its requests/s in GC.
const connections = new WeakMap<Socket, Connection>()

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
const DONE = Promise.resolve()
/**
 * Events are applied to their sessions this long after the first of them (or at once when a choice
 * or a read needs the session): a session hammered by many requests at once pays for one update
 * per batch, not per request. CMSD-Dynamic may lag by this much.
 */
const FLUSH_MS = 25
/** With this many events waiting (all sessions together), every session is brought up to date at once. */
const MAX_WAITING = 4096
/** Bound on the CMSD-Dynamic values kept ready. */
const MAX_CMSD = 10_000

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
  /** What delivery saw of each session since its last update, in order. */
  readonly #events = new Map<string, SessionEvent[]>()
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Events waiting, all sessions together. */
  #waiting = 0
  /** Each session's CMSD-Dynamic value for its last `mb`, while its estimate stays as it is. */
  readonly #cmsd = new Map<string, { mb: number | undefined, value: string }>()
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
    this.#record(line.sid, { kind: 'sample', sample })
    await this.#update(line.sid)
  }

  /** Whether this node's own view of a request says nothing about the viewer's link (it came through a proxy that logs it for us). */
  #proxied (req: IncomingMessage): boolean {
    return this.#edge && req.headers['x-forwarded-for'] !== undefined
  }

  /** Called for every request before routing: its arrival time, and the gap sample the previous answer on this connection was waiting for. */
  arrived (req: IncomingMessage): void {
    const socket = req.socket
    let c = connections.get(socket)
    const last = c?.awaited
    // Most requests name no session and follow none: they cost a lookup and a search.
    if (last === undefined && req.url?.includes('sid=') !== true) return
    const t = now()
    if (c === undefined) {
      c = { req, arrivalMs: t, awaited: undefined }
      connections.set(socket, c)
    } else {
      c.req = req
      c.arrivalMs = t
    }
    if (last === undefined || this.#proxied(req)) return
    c.awaited = undefined
    // A connection may carry other viewers' requests (a proxy's keep-alive upstream): only the same
    // session's next request says when its previous answer arrived.
    if (!sameSession(req, last.sid)) return
    if ('smallFinishMs' in last) this.#record(last.sid, { kind: 'rtt', gapMs: t - last.smallFinishMs })
    else this.#record(last.sid, { kind: 'gap', delivery: last.delivery, nextArrivalMs: t })
  }

  arrivalOf (req: IncomingMessage): number {
    const c = connections.get(req.socket)
    return c !== undefined && c.req === req ? c.arrivalMs : now()
  }

  /** Sets what the next request on `socket` completes (undefined: nothing). */
  #await (socket: Socket, next: Awaited | undefined): void {
    const c = connections.get(socket)
    if (c !== undefined) c.awaited = next
    else if (next !== undefined) connections.set(socket, { req: null, arrivalMs: 0, awaited: next })
  }

  /** A small answer (a playlist) of a session went out: the next request on its connection bounds the RTT. */
  answeredSmall (res: ServerResponse, sid: string): void {
    const socket = res.socket
    if (socket === null) return
    res.once('finish', () => { this.#await(socket, { sid, smallFinishMs: now() }) })
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
    if (!buffered) this.#record(sid, { kind: 'segment', arrivalMs, segmentSeconds, reportedBufferMs: cmcd?.bl })
    const queued = socket._handle?.writeQueueSize ?? 0
    const acceptedBytes = Math.max(0, Math.min(bytes, bytes - queued))
    // A player that reports its own throughput (CMCD mtp) has been sampled at arrival (reported()).
    const measured = cmcd?.mtp === undefined && !this.#proxied(req)
    const finished = (): void => {
      const delivery: SegmentDelivery = { bytes, arrivalMs, finishMs: now(), acceptedBytes, segmentSeconds }
      const sample = !measured || bytes <= SMALL_BODY ? null : sampleFromDelivery(delivery)
      const next: Awaited | undefined = !measured ? undefined : sample === null ? (bytes <= SMALL_BODY ? { sid, smallFinishMs: delivery.finishMs } : { sid, delivery }) : undefined
      this.#await(socket, next)
      if (sample !== null) this.#record(sid, { kind: 'sample', sample })
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
    this.#record(sid, { kind: 'reported', arrivalMs: this.arrivalOf(req), mtpKbps: cmcd.mtp, bytesFor })
    return this.#update(sid)
  }

  /** The session a master or adaptive playlist opens or continues, and what is known of its bandwidth. */
  async open (sid: string | undefined, ip: string | undefined): Promise<{ sid: string, estimateBps: number | null }> {
    const id = sid ?? newSessionId()
    if (sid !== undefined) await this.#update(id)
    const known = sid === undefined ? undefined : await this.#get(id)
    if (known !== undefined) return { sid: id, estimateBps: known.estimate }
    const network = networkPrefix(ip) ?? null
    const memo = network === null ? undefined : await this.#sessions.get('net:' + network) as NetworkMemo | undefined
    const initial = memo?.bps ?? null
    const session = newSession(newEstimator(initial), network)
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
  async choose (req: IncomingMessage, sid: string, ladder: Ladder, segmentSeconds: number, remainingSeconds: number, cmcd: Cmcd | undefined, upcomingBits?: number[][]): Promise<{ index: number, estimateBps: number | null }> {
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
        segmentSeconds,
        upcomingBits,
        lastSampleBps: s.estimator.samples.at(-1)?.[0] ?? null,
        previousSampleBps: s.estimator.samples.at(-2)?.[0] ?? null
      })
      return { ...s, buffer, current: chosen, held: chosen === s.current ? s.held + 1 : 1 }
    })
    return { index: chosen, estimateBps: estimate }
  }

  /** CMSD-Dynamic for a session from this node's copy (never waits): etp and, when known, the maximum suggested bitrate. */
  cmsdDynamic (sid: string, maxSuggestedBps: number | undefined): string | undefined {
    // Kept ready per session until its estimate changes: the fast path asks for it on every answer.
    const ready = this.#cmsd.get(sid)
    if (ready !== undefined && ready.mb === maxSuggestedBps) return ready.value
    const estimate = (this.#sessions.peek('s:' + sid) as AbrSession | undefined)?.estimate ?? null
    if (estimate === null) return undefined
    const etp = Math.round(estimate / KBPS)
    const value = maxSuggestedBps === undefined ? `etp=${etp}` : `etp=${etp},mb=${Math.round(maxSuggestedBps / KBPS)}`
    if (this.#cmsd.size >= MAX_CMSD) this.#cmsd.clear()
    this.#cmsd.set(sid, { mb: maxSuggestedBps, value })
    return value
  }

  /** This node's copy of a session (tests and metrics), with what this node has seen of it applied when the state is this node's alone. */
  peek (sid: string): AbrSession | undefined {
    void this.#update(sid)
    return this.#sessions.peek('s:' + sid) as AbrSession | undefined
  }

  /**
   * The sessions this node changed within the last `withinMs` (a segment or playlist answered, a
   * sample taken) and their bandwidth estimates, bits/s (null while unknown). Read-only, for /metrics.
   */
  active (withinMs: number): Array<number | null> {
    this.#flushAll()
    return this.#sessions.recent('s:', withinMs).map((s) => (s as AbrSession).estimate)
  }

  /** Resolves once every update queued so far has been written. */
  async settled (): Promise<void> {
    this.#flushAll()
    await Promise.all([...this.#queues.values()])
  }

  /** Applies what is waiting (which stops the timer) before the store closes. */
  async close (): Promise<void> {
    await this.settled()
  }

  /** Whether what the session's network achieved is worth writing down again (it moved by 2% or more). */
  #networkChanged (before: AbrSession, after: AbrSession): boolean {
    if (after.network === null || after.estimate === null || after.estimator === before.estimator) return false
    return before.estimate === null || Math.abs(after.estimate - before.estimate) >= 0.02 * before.estimate
  }

  /** Notes an event of a session; it is applied with the others of its batch (see FLUSH_MS). */
  #record (sid: string, event: SessionEvent): void {
    let events = this.#events.get(sid)
    if (events === undefined) {
      events = []
      this.#events.set(sid, events)
    }
    events.push(event)
    if (++this.#waiting >= MAX_WAITING) this.#flushAll()
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flushAll, FLUSH_MS)
      this.#timer.unref()
    }
  }

  readonly #flushAll = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    for (const sid of [...this.#events.keys()]) void this.#update(sid)
  }

  async #get (sid: string): Promise<AbrSession | undefined> {
    const s = await this.#sessions.get('s:' + sid)
    return s !== undefined && 'estimator' in s ? s : undefined
  }

  /**
   * Applies the session's waiting events, then `change` (a choice), in that order. Without Redis at
   * once; with Redis after this node's earlier updates of the session, read-modify-write.
   */
  #update (sid: string, change?: (s: AbrSession) => AbrSession): Promise<void> {
    const events = this.#events.get(sid)
    if (events !== undefined) {
      this.#events.delete(sid)
      this.#waiting -= events.length
    } else if (change === undefined) return this.#queues.get(sid) ?? DONE
    const apply = (s: AbrSession): AbrSession => {
      const seen = events === undefined ? s : applySessionEvents(s, events)
      return change === undefined ? seen : change(seen)
    }
    // Without Redis the state is this process's alone: change it at once, with no promise.
    if (!this.#sessions.shared) {
      const s = (this.#sessions.peek('s:' + sid) as AbrSession | undefined) ?? newSession()
      const changed = apply(s)
      if (changed !== s) {
        this.#sessions.setLocal('s:' + sid, changed)
        if (changed.estimate !== s.estimate) this.#cmsd.delete(sid)
        if (this.#networkChanged(s, changed)) this.#sessions.setLocal('net:' + changed.network!, { bps: changed.estimate! })
      }
      return DONE
    }
    const previous = this.#queues.get(sid) ?? Promise.resolve()
    const next = previous.then(async () => {
      const s = await this.#get(sid) ?? newSession()
      const changed = apply(s)
      if (changed === s) return
      await this.#sessions.set('s:' + sid, changed)
      // The copy read may be another node's newer one: what was kept ready here is stale either way.
      this.#cmsd.delete(sid)
      if (this.#networkChanged(s, changed)) await this.#sessions.set('net:' + changed.network!, { bps: changed.estimate! })
    }).catch((err: unknown) => { this.#log.warn({ err }, 'could not update a viewing session') })
      .finally(() => { if (this.#queues.get(sid) === next) this.#queues.delete(sid) })
    this.#queues.set(sid, next)
    return next
  }
}
