import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger } from 'fastify'
import { lowEstimateBps, newEstimator } from '../abr/bandwidth-estimator.js'
import { bufferSeconds, onSegment } from '../abr/buffer-model.js'
import { chooseRendition, safeStartIndex } from '../abr/choose-rendition.js'
import type { Cmcd } from '../abr/cmcd.js'
import { networkPrefix } from '../abr/network-prefix.js'
import { isSessionIdAt, newSessionId } from '../abr/session-id.js'
import type { SessionStore } from '../abr/session-store.js'
import { sampleFromDelivery, sampleFromGap } from '../abr/sample-from-delivery.js'
import { edgeDelivery, type EdgeLogLine } from '../abr/edge-log-line.js'
import { applySessionEvents, newSession, type AbrSession, type SessionEvent } from '../abr/session-state.js'
import { WaitingEvents } from './waiting-events.js'

export type { AbrSession } from '../abr/session-state.js'

interface NetworkMemo { bps: number }

/** What the session store holds: sessions (`s:<sid>`) and what networks achieved (`net:<prefix>`). */
export type SessionValue = AbrSession | NetworkMemo

/** A ladder as the choice rule sees it: rung bitrates ascending. */
export interface Ladder { peakBps: number[], averageBps: number[] }

/**
 * What this node holds of one viewing session between updates, found once per request by its id
 * (the request's id is a new string each time: every further lookup by it would hash it again).
 */
export interface SessionEntry {
  readonly sid: string
  /** Let go of by this node (see MAX_ENTRIES): a connection still holding it looks its session up again. */
  dropped: boolean
  /** What delivery saw of the session since its last update, in order. */
  readonly events: WaitingEvents
  /** CMSD-Dynamic for `cmsdMb` (undefined: not kept ready), while the estimate stays as it is. */
  cmsdValue: string | undefined
  cmsdMb: number | undefined
}

/**
 * What is known of one client connection: its latest session request, and the sample that request's
 * successor completes. Plain fields, one shape, changed in place: the fast path touches it on every
 * request and makes no object for it.
 */
export interface Connection {
  /** The latest request on this connection that named a session or completed a sample (HTTP/1.1 answers in order). */
  req: IncomingMessage | null
  arrivalMs: number
  /** The session `req` named, when the fast path read it from the URL. */
  entry: SessionEntry | undefined
  /** The session whose answer the next request on this connection completes (undefined: none). */
  awaitedEntry: SessionEntry | undefined
  /**
   * That answer: its body bytes, 0 for a small one (whose next request bounds the round trip), else
   * a segment's delivery, the gap event the next request completes (see GapEvent).
   */
  awaitedBytes: number
  awaitedArrivalMs: number
  /** When the answer was handed over. */
  awaitedFinishMs: number
  awaitedAcceptedBytes: number
  awaitedSegmentSeconds: number
}

function newConnection (req: IncomingMessage | null, arrivalMs: number, entry: SessionEntry | undefined): Connection {
  return { req, arrivalMs, entry, awaitedEntry: undefined, awaitedBytes: 0, awaitedArrivalMs: 0, awaitedFinishMs: 0, awaitedAcceptedBytes: 0, awaitedSegmentSeconds: 0 }
}
// Kept beside Node's socket objects, never on them: a property added to those changes their shape
// for every access inside Node's HTTP and socket code. Keyed by the socket, not the request: a
// WeakMap entry per request (short-lived keys) cost the fast path a third of its requests/s in GC.
const connections = new WeakMap<Socket, Connection>()

/** Whether a request names the session `sid` (in its URL, or in CMCD-Session as hls.js sends it). */
function namesSession (req: IncomingMessage, sid: string): boolean {
  if (req.url?.includes('sid=' + sid) === true) return true
  const header = req.headers['cmcd-session']
  return typeof header === 'string' && header.includes(`sid="${sid}"`)
}

/** Wall-clock milliseconds with sub-millisecond resolution (durations need it; Date.now() does not have it). */
const ORIGIN_MS = performance.timeOrigin
const now = (): number => ORIGIN_MS + performance.now()

/** A session as the store holds it (the store also holds networks' estimates). */
function asSession (value: SessionValue | undefined): AbrSession | undefined {
  return value !== undefined && 'estimator' in value ? value : undefined
}

/** When `req` arrived, if its connection's record is of it; else now. */
function arrivalOn (c: Connection | undefined, req: IncomingMessage): number {
  return c !== undefined && c.req === req ? c.arrivalMs : now()
}

/** Bodies at most this large say nothing about throughput, but their follow-up request bounds the RTT. */
const SMALL_BODY = 16 * 1024
const KBPS = 1000
const DONE = Promise.resolve()
/**
 * Events are applied to their sessions this long after the first of them (or at once when a choice
 * or a read needs the session, or MAX_WAITING are waiting): a session hammered by many requests at
 * once pays for one update per batch, not per request. CMSD-Dynamic may lag by this much, a small
 * part of a segment's duration (a player's next choice comes a segment later). 25 ms batches cost
 * the fast path about 2,000 instructions per request under callgrind (its requests come ~50 times
 * slower there, so a batch held ~20 of them), 250 ms about 550.
 */
const FLUSH_MS = 250
/** With this many events waiting (all sessions together), every session is brought up to date at once. */
const MAX_WAITING = 4096
/** Bound on the sessions held between updates (their state itself is in the session store). */
const MAX_ENTRIES = 50_000
/** Tries of one update of a shared session that other nodes keep changing meanwhile. */
const MAX_WRITE_ATTEMPTS = 8

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
  /** The sessions this node saw lately, by id. */
  readonly #entries = new Map<string, SessionEntry>()
  /** The entries with events waiting. */
  #dirty: SessionEntry[] = []
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Events waiting, all sessions together. */
  #waiting = 0
  /** With nginx's access log arriving (ABR_EDGE_LOG_PORT), requests that came through a proxy are sampled from it, not here. */
  readonly #edge: boolean
  /** The last logged request of each of nginx's client connections. */
  readonly #edgeConnections = new Map<string, EdgeLogLine>()
  readonly #flushMs: number
  readonly #maxWaiting: number

  /** `flushMs`, `maxWaiting`: see FLUSH_MS and MAX_WAITING (tests change them). */
  constructor (sessions: SessionStore<SessionValue>, log: FastifyBaseLogger, options: { edgeLog?: boolean, flushMs?: number, maxWaiting?: number } = {}) {
    this.#sessions = sessions
    this.#log = log
    this.#edge = options.edgeLog === true
    this.#flushMs = options.flushMs ?? FLUSH_MS
    this.#maxWaiting = options.maxWaiting ?? MAX_WAITING
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
    const entry = this.entry(line.sid)
    this.#record(entry, { kind: 'sample', sample })
    await this.#update(entry)
  }

  /** Whether this node's own view of a request says nothing about the viewer's link (it came through a proxy that logs it for us). */
  #proxied (req: IncomingMessage): boolean {
    return this.#edge && req.headers['x-forwarded-for'] !== undefined
  }

  /** This node's entry for a session: one lookup by its id per request, then the entry itself. */
  entry (sid: string): SessionEntry {
    let e = this.#entries.get(sid)
    if (e === undefined) {
      if (this.#entries.size >= MAX_ENTRIES) {
        // Waiting events are handed to their updates before their entries are let go.
        this.#flushAll()
        for (const old of this.#entries.values()) old.dropped = true
        this.#entries.clear()
      }
      e = { sid, dropped: false, events: new WaitingEvents(), cmsdValue: undefined, cmsdMb: undefined }
      this.#entries.set(sid, e)
    }
    return e
  }

  /** Called for every request before routing: its arrival time, and the gap sample the previous answer on this connection was waiting for. */
  arrived (req: IncomingMessage): void {
    const c = connections.get(req.socket)
    // Most requests name no session and follow none: they cost a lookup and a search.
    if (c?.awaitedEntry === undefined && req.url?.includes('sid=') !== true) return
    this.#arrive(req, c, undefined)
  }

  /**
   * arrived() for a request whose URL the fast path has read: what follows `?sid=` is the end of
   * `url` from `sidAt` on (-1: no query). The connection, to hand to deliveredOn(), when the request
   * names a session; undefined when it names none; null when what it names is no session id (the
   * router then reads the query, and the request counts as naming none).
   */
  arrivedNamed (req: IncomingMessage, url: string, sidAt: number): Connection | undefined | null {
    const c = connections.get(req.socket)
    if (sidAt < 0) {
      if (c?.awaitedEntry !== undefined) this.#arrive(req, c, undefined)
      return undefined
    }
    // A player asks for its session's segments one after another on one connection: the entry its
    // previous request found is this one's too. The id is compared where it stands in the URL (it
    // ends the URL), without cutting it out, hashing it or checking it again.
    const held = c?.entry
    if (held !== undefined && !held.dropped && held.sid.length === url.length - sidAt && url.endsWith(held.sid)) return this.#arrive(req, c, held)
    if (!isSessionIdAt(url, sidAt)) {
      this.#arrive(req, c, undefined)
      return null
    }
    return this.#arrive(req, c, this.entry(url.slice(sidAt)))
  }

  #arrive (req: IncomingMessage, c: Connection | undefined, entry: SessionEntry | undefined): Connection {
    const t = now()
    if (c === undefined) {
      c = newConnection(req, t, entry)
      connections.set(req.socket, c)
    } else {
      c.req = req
      c.arrivalMs = t
      c.entry = entry
    }
    const last = c.awaitedEntry
    if (last === undefined || this.#proxied(req)) return c
    c.awaitedEntry = undefined
    // A connection may carry other viewers' requests (a proxy's keep-alive upstream): only the same
    // session's next request says when its previous answer arrived.
    const same = entry !== undefined ? entry === last || entry.sid === last.sid : namesSession(req, last.sid)
    if (!same) return c
    if (c.awaitedBytes === 0) this.#record(last, { kind: 'rtt', gapMs: t - c.awaitedFinishMs })
    else {
      const live = this.#live(last)
      live.events.pushGap(c.awaitedBytes, c.awaitedArrivalMs, c.awaitedFinishMs, c.awaitedAcceptedBytes, c.awaitedSegmentSeconds, t)
      this.#noted(live)
    }
    return c
  }

  arrivalOf (req: IncomingMessage): number {
    return arrivalOn(connections.get(req.socket), req)
  }

  /**
   * Sets what the next request on `socket` completes (`entry` undefined: nothing; `bytes` 0: a small
   * answer handed over at `finishMs`), on `c` when it is the socket's record.
   */
  #await (c: Connection | undefined, socket: Socket, entry: SessionEntry | undefined, bytes = 0, finishMs = 0, arrivalMs = 0, acceptedBytes = 0, segmentSeconds = 0): void {
    // A connection's record is never replaced: the one found at the request is the socket's still.
    c ??= connections.get(socket)
    if (c === undefined) {
      if (entry === undefined) return
      c = newConnection(null, 0, undefined)
      connections.set(socket, c)
    }
    c.awaitedEntry = entry
    c.awaitedBytes = bytes
    c.awaitedFinishMs = finishMs
    c.awaitedArrivalMs = arrivalMs
    c.awaitedAcceptedBytes = acceptedBytes
    c.awaitedSegmentSeconds = segmentSeconds
  }

  /** A small answer (a playlist) of a session went out: the next request on its connection bounds the RTT. */
  answeredSmall (res: ServerResponse, sid: string): void {
    const socket = res.socket
    if (socket === null) return
    const entry = this.entry(sid)
    res.once('finish', () => { this.#await(undefined, socket, entry, 0, now()) })
  }

  /**
   * A segment (or range) of `bytes` was just handed to res.end(): how much of it the kernel took at
   * once is read now, the rest when 'finish' fires.
   */
  delivered (req: IncomingMessage, res: ServerResponse, sid: string, bytes: number, segmentSeconds: number, cmcd: Cmcd | undefined, buffered = false): void {
    const socket = res.socket
    if (socket === null || bytes <= 0) return
    const entry = this.entry(sid)
    const c = connections.get(socket)
    const arrivalMs = arrivalOn(c, req)
    // The player's buffer as of this request, when it says (choose() has done it for an adaptive
    // segment). Only the adaptive route's choice reads a buffer: for a player choosing for itself,
    // inferring one from its requests would be work for nothing.
    if (!buffered && cmcd?.bl !== undefined) this.#record(entry, { kind: 'segment', arrivalMs, segmentSeconds, reportedBufferMs: cmcd.bl })
    // A player that reports its own throughput (CMCD mtp) has been sampled at arrival (reported()).
    this.#sent(c, socket, res, entry, arrivalMs, bytes, segmentSeconds, cmcd?.mtp === undefined && !this.#proxied(req))
  }

  /**
   * delivered() for a fast-path answer, on the connection arrivedNamed() gave: no CMCD (so no buffer
   * to note), no proxy (the fast path takes neither). An answer the kernel takes whole was handed
   * over in the tick its request arrived in: its arrival stamp stands for that moment, to within
   * the microseconds spent answering, and the clock is read once per request.
   */
  deliveredOn (c: Connection, res: ServerResponse, bytes: number, segmentSeconds: number): void {
    const socket = res.socket
    const entry = c.entry
    if (socket === null || bytes <= 0 || entry === undefined) return
    this.#sent(c, socket, res, entry, c.arrivalMs, bytes, segmentSeconds, true, c.arrivalMs)
  }

  /** `c`: the socket's connection record, if it has one. `handedMs`: when an answer the kernel takes whole was handed over (default now). */
  #sent (c: Connection | undefined, socket: Socket, res: ServerResponse, entry: SessionEntry, arrivalMs: number, bytes: number, segmentSeconds: number, measured: boolean, handedMs?: number): void {
    // A write the kernel takes whole completes at once, leaving nothing in the socket's stream: only
    // otherwise is libuv asked (a call into C++) how much it still holds.
    const queued = socket.writableLength === 0 ? 0 : (socket as Socket & { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0
    // The kernel took the whole answer at once: it has been handed over already ('finish' would
    // only say so later), and no 'finish' sample can come of it.
    if (queued === 0) this.#finished(c, socket, entry, arrivalMs, bytes, bytes, segmentSeconds, measured, handedMs ?? now())
    else {
      const acceptedBytes = Math.max(0, bytes - queued)
      res.once('finish', () => { this.#finished(c, socket, entry, arrivalMs, bytes, acceptedBytes, segmentSeconds, measured, now()) })
    }
  }

  #finished (c: Connection | undefined, socket: Socket, entry: SessionEntry, arrivalMs: number, bytes: number, acceptedBytes: number, segmentSeconds: number, measured: boolean, finishMs: number): void {
    if (!measured) {
      this.#await(c, socket, undefined)
      return
    }
    if (bytes <= SMALL_BODY) {
      this.#await(c, socket, entry, 0, finishMs)
      return
    }
    // The delivery is the gap event its connection's next request completes, unless 'finish' says enough.
    const sample = acceptedBytes < bytes ? sampleFromDelivery({ bytes, arrivalMs, finishMs, acceptedBytes }) : null
    if (sample === null) this.#await(c, socket, entry, bytes, finishMs, arrivalMs, acceptedBytes, segmentSeconds)
    else {
      this.#await(c, socket, undefined)
      this.#record(entry, { kind: 'sample', sample })
    }
  }

  /**
   * What a player says of its own downloads (CMCD mtp, kbit/s) as a sample of its session, taken when
   * the request arrives so that the choice made for this very request already uses it. Weighted as
   * the transfer of `bytesFor(session)` at that rate (the segment about to be sent), so that a slow
   * report counts for as long as such a segment would take, as measured samples do.
   */
  reported (req: IncomingMessage, sid: string, cmcd: Cmcd | undefined, bytesFor: (s: AbrSession) => number): Promise<void> | undefined {
    if (cmcd?.mtp === undefined) return undefined
    const entry = this.entry(sid)
    this.#record(entry, { kind: 'reported', arrivalMs: this.arrivalOf(req), mtpKbps: cmcd.mtp, bytesFor })
    return this.#update(entry)
  }

  /** The session a master or adaptive playlist opens or continues, and what is known of its bandwidth. */
  async open (sid: string | undefined, ip: string | undefined): Promise<{ sid: string, estimateBps: number | null }> {
    const id = sid ?? newSessionId()
    if (sid !== undefined) await this.#update(this.entry(id))
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
    await this.#update(this.entry(sid), (s) => {
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
    return this.cmsdDynamicOf(this.entry(sid), maxSuggestedBps)
  }

  /** cmsdDynamic() for an entry in hand. Kept ready per session until its estimate changes: the fast path asks on every answer. */
  cmsdDynamicOf (entry: SessionEntry, maxSuggestedBps: number | undefined): string | undefined {
    if (entry.cmsdValue !== undefined && entry.cmsdMb === maxSuggestedBps) return entry.cmsdValue
    const estimate = (this.#sessions.peek('s:' + entry.sid) as AbrSession | undefined)?.estimate ?? null
    if (estimate === null) return undefined
    const etp = Math.round(estimate / KBPS)
    entry.cmsdMb = maxSuggestedBps
    entry.cmsdValue = maxSuggestedBps === undefined ? `etp=${etp}` : `etp=${etp},mb=${Math.round(maxSuggestedBps / KBPS)}`
    return entry.cmsdValue
  }

  /** This node's copy of a session (tests and metrics), with what this node has seen of it applied when the state is this node's alone. */
  peek (sid: string): AbrSession | undefined {
    const entry = this.#entries.get(sid)
    if (entry !== undefined) void this.#update(entry)
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
  #record (entry: SessionEntry, event: SessionEvent): void {
    const live = this.#live(entry)
    live.events.push(event)
    this.#noted(live)
  }

  /** An entry let go of while an answer was on its way: its session's events go to its new entry. */
  #live (entry: SessionEntry): SessionEntry {
    return entry.dropped ? this.entry(entry.sid) : entry
  }

  /** After an event was added to `entry`'s waiting ones: listed, counted, and the batch timer set. */
  #noted (entry: SessionEntry): void {
    if (entry.events.length === 1) this.#dirty.push(entry)
    if (++this.#waiting >= this.#maxWaiting) this.#flushAll()
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flushAll, this.#flushMs)
      this.#timer.unref()
    }
  }

  readonly #flushAll = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const dirty = this.#dirty
    this.#dirty = []
    for (const entry of dirty) void this.#update(entry)
  }

  async #get (sid: string): Promise<AbrSession | undefined> {
    return asSession(await this.#sessions.get('s:' + sid))
  }

  /**
   * Applies the session's waiting events, then `change` (a choice), in that order. Without Redis at
   * once; with Redis after this node's earlier updates of the session, read-modify-write.
   */
  #update (entry: SessionEntry, change?: (s: AbrSession) => AbrSession): Promise<void> {
    const sid = entry.sid
    // Counted as recorded: a batch taken holds fewer events (a run of gaps is one).
    const waiting = entry.events.length
    const events = waiting === 0 ? undefined : entry.events.take()
    if (events !== undefined) {
      // Still listed in #dirty until the next flush, which finds nothing waiting.
      this.#waiting -= waiting
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
        if (changed.estimate !== s.estimate) entry.cmsdValue = undefined
        if (this.#networkChanged(s, changed)) this.#sessions.setLocal('net:' + changed.network!, { bps: changed.estimate! })
      }
      return DONE
    }
    const previous = this.#queues.get(sid) ?? Promise.resolve()
    const next = previous.then(async () => {
      // Another node may update the same session meanwhile (nginx's log lines of one session are
      // recorded by whichever node claims each): a write that another overtook is done again on
      // what that one wrote, so that neither's samples are lost.
      for (let attempt = 1; ; attempt++) {
        const version = await this.#sessions.getVersion('s:' + sid)
        const s = asSession(version.value) ?? newSession()
        const changed = apply(s)
        if (changed === s) return
        const written = await this.#sessions.setIfUnchanged('s:' + sid, version, changed)
        if (!written && attempt < MAX_WRITE_ATTEMPTS) continue
        if (!written) this.#log.warn({ sid, attempts: attempt }, 'a viewing session kept changing under this node\'s update; its samples were dropped')
        // The copy read may be another node's newer one: what was kept ready here is stale either way.
        entry.cmsdValue = undefined
        if (written && this.#networkChanged(s, changed)) await this.#sessions.set('net:' + changed.network!, { bps: changed.estimate! })
        return
      }
    }).catch((err: unknown) => { this.#log.warn({ err }, 'could not update a viewing session') })
      .finally(() => { if (this.#queues.get(sid) === next) this.#queues.delete(sid) })
    this.#queues.set(sid, next)
    return next
  }
}
