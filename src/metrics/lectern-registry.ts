import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ByteCache, TierStatus } from '../cache/byte-cache.js'
import type { TwoTierCacheStats } from '../cache/two-tier-cache.js'
import type { Database } from '../db/collection.js'
import type { Job, JobState } from '../db/documents.js'
import { CACHE_OUTCOMES, DELIVERY_KINDS, deliveryCounters } from './delivery-counters.js'
import { registerProcessMetrics } from './process-metrics.js'

/** Where a scrape reads its figures from; each source is optional (the worker has no cache or sessions). */
export interface MetricSources {
  cache?: ByteCache
  /** Jobs by state and the queue depth are counted in the database at scrape time. */
  db?: Database
  /** Whether this process is running a transcode job now. */
  transcoding?: () => boolean
  /** Bandwidth estimates (bits/s, null while unknown) of the viewing sessions active lately. */
  activeSessions?: () => Array<number | null>
  /** Uploads being received now, and bytes of upload requests accepted so far, by protocol. */
  uploads?: () => { inFlight: Record<UploadProtocol, number>, bytes: Record<UploadProtocol, number> }
  /** Requests answered through the router, by "route status_class" (plain counts kept by the caller). */
  routedRequests?: () => Map<string, number>
}

export type UploadProtocol = 'multipart' | 'tus'
const UPLOAD_PROTOCOLS: readonly UploadProtocol[] = ['multipart', 'tus']
const JOB_STATES: readonly JobState[] = ['queued', 'running', 'done', 'failed', 'cancelled']
const TIER_STATES: readonly TierStatus[] = ['ok', 'down', 'disabled']
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const
/** Nothing a scrape waits for may take longer than this; a slow source is left out of that scrape. */
const SOURCE_TIMEOUT_MS = 1000

async function within<T> (promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), SOURCE_TIMEOUT_MS) })])
  } catch {
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

export interface LecternRegistry {
  registry: Registry
  /** Times one request answered by the router (the fast path's answers are counted, not timed). */
  observeRequest: (route: string, statusClass: string, seconds: number) => void
}

/**
 * The registry one process exposes: Node's default metrics, this process's storage and transcode
 * metrics, and the figures of the given sources, read when scraped.
 */
export function lecternRegistry (sources: MetricSources): LecternRegistry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  registerProcessMetrics(registry)
  const registers = [registry]

  const duration = new Histogram({
    name: 'lectern_http_request_duration_seconds',
    help: 'Latency of requests answered through the router, from arrival to the last byte handed to the socket, by route and status class.',
    labelNames: ['route', 'status_class'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers
  })

  if (sources.routedRequests !== undefined) {
    const routed = sources.routedRequests
    new Counter({ // eslint-disable-line no-new
      name: 'lectern_http_requests_total',
      help: 'Requests answered, by route and status class; route "fast-path" is a cached segment or media playlist answered from memory ahead of the router.',
      labelNames: ['route', 'status_class'] as const,
      registers,
      collect () {
        this.reset()
        for (const [key, n] of routed()) {
          const space = key.lastIndexOf(' ')
          this.inc({ route: key.slice(0, space), status_class: key.slice(space + 1) }, n)
        }
        deliveryCounters.fastPathAnswers.forEach((n, i) => {
          if (n > 0) this.inc({ route: 'fast-path', status_class: STATUS_CLASSES[i - 1] ?? `${i}xx` }, n)
        })
      }
    })
  }

  new Counter({ // eslint-disable-line no-new
    name: 'lectern_delivered_bytes_total',
    help: 'Body bytes of media answers handed to sockets, by kind (segment, playlist, progressive, poster) and cache outcome (l1 in process, l2 Redis, origin storage).',
    labelNames: ['kind', 'cache'] as const,
    registers,
    collect () {
      this.reset()
      for (const kind of DELIVERY_KINDS) {
        for (const outcome of CACHE_OUTCOMES) this.inc({ kind, cache: outcome }, deliveryCounters.bytes[kind][outcome])
      }
    }
  })

  const { cache } = sources
  if (cache !== undefined) {
    new Counter({ // eslint-disable-line no-new
      name: 'lectern_cache_lookups_total',
      help: 'Cache lookups by tier and result: l1 hit/miss, l2 hit/miss/error, origin read/error (reads that went to storage), shared (joined a load in flight).',
      labelNames: ['tier', 'result'] as const,
      registers,
      collect () {
        const s = cache.stats() as Partial<TwoTierCacheStats> & ReturnType<ByteCache['stats']>
        this.reset()
        this.inc({ tier: 'l1', result: 'hit' }, s.l1Hits)
        this.inc({ tier: 'l1', result: 'miss' }, s.l1Misses)
        this.inc({ tier: 'l2', result: 'hit' }, s.l2Hits)
        this.inc({ tier: 'l2', result: 'miss' }, s.l2Misses)
        this.inc({ tier: 'l2', result: 'error' }, s.l2Errors)
        this.inc({ tier: 'origin', result: 'read' }, s.originReads)
        this.inc({ tier: 'origin', result: 'error' }, s.originErrors ?? 0)
        this.inc({ tier: 'origin', result: 'shared' }, s.sharedLoads ?? 0)
      }
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_cache_l1_bytes',
      help: 'Bytes of values held by the in-process cache (bounded by CACHE_MEMORY_MB).',
      registers,
      collect () { this.set(cache.stats().l1Bytes) }
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_cache_l1_entries',
      help: 'Values held by the in-process cache.',
      registers,
      collect () { this.set(cache.stats().l1Entries) }
    })
    new Counter({ // eslint-disable-line no-new
      name: 'lectern_cache_l1_evictions_total',
      help: 'Values the in-process cache dropped to stay within its bound.',
      registers,
      collect () {
        this.reset()
        this.inc((cache.stats() as Partial<TwoTierCacheStats>).l1Evictions ?? 0)
      }
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_cache_tier_state',
      help: 'State of each cache tier (1 for the state it is in): memory, and redis (disabled without REDIS_URL).',
      labelNames: ['tier', 'state'] as const,
      registers,
      async collect () {
        const states = await within(cache.probe()) ?? { memory: 'ok' as const, redis: 'down' as const }
        this.reset()
        for (const tier of ['memory', 'redis'] as const) {
          for (const state of TIER_STATES) this.set({ tier, state }, states[tier] === state ? 1 : 0)
        }
      }
    })
  }

  const { db } = sources
  if (db !== undefined) {
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_transcode_jobs',
      help: 'Transcode jobs by state, as the database holds them (the same figure from every process: take max()).',
      labelNames: ['state'] as const,
      registers,
      async collect () {
        const jobs = db.collection<Job>('jobs')
        const counts = await within(Promise.all(JOB_STATES.map(async (state) => await jobs.countDocuments({ state }))))
        this.reset()
        if (counts !== undefined) JOB_STATES.forEach((state, i) => this.set({ state }, counts[i]!))
      }
    })
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_transcode_queue_depth',
      help: 'Jobs waiting for a worker now: queued and due (not waiting out a retry backoff).',
      registers,
      async collect () {
        const n = await within(db.collection<Job>('jobs').countDocuments({ state: 'queued', runAfter: { $lte: new Date() } }))
        this.reset()
        if (n !== undefined) this.set(n)
      }
    })
  }
  if (sources.transcoding !== undefined) {
    const transcoding = sources.transcoding
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_transcode_busy',
      help: '1 while this process runs a transcode job.',
      registers,
      collect () { this.set(transcoding() ? 1 : 0) }
    })
  }

  if (sources.activeSessions !== undefined) {
    const active = sources.activeSessions
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_abr_active_sessions',
      help: 'Viewing sessions this process answered in the last minute.',
      registers,
      collect () { this.set(active().length) }
    })
    new Histogram({ // eslint-disable-line no-new
      name: 'lectern_abr_session_estimate_bps',
      help: 'Bandwidth estimates of the viewing sessions active in the last minute, bits/s (sessions with no estimate yet are left out).',
      buckets: [250e3, 500e3, 1e6, 2e6, 4e6, 8e6, 16e6, 32e6, 64e6, 128e6],
      registers,
      collect () {
        this.reset()
        for (const bps of active()) if (bps !== null) this.observe(bps)
      }
    })
  }

  if (sources.uploads !== undefined) {
    const uploads = sources.uploads
    new Gauge({ // eslint-disable-line no-new
      name: 'lectern_uploads_in_flight',
      help: 'Upload requests being received now, by protocol (multipart POST /api/videos, tus PATCH/POST /api/uploads).',
      labelNames: ['protocol'] as const,
      registers,
      collect () {
        const { inFlight } = uploads()
        for (const protocol of UPLOAD_PROTOCOLS) this.set({ protocol }, inFlight[protocol])
      }
    })
    new Counter({ // eslint-disable-line no-new
      name: 'lectern_upload_received_bytes_total',
      help: 'Body bytes of upload requests that were accepted (2xx), by protocol.',
      labelNames: ['protocol'] as const,
      registers,
      collect () {
        const { bytes } = uploads()
        this.reset()
        for (const protocol of UPLOAD_PROTOCOLS) this.inc({ protocol }, bytes[protocol])
      }
    })
  }

  return {
    registry,
    observeRequest: (route, statusClass, seconds) => duration.observe({ route, status_class: statusClass }, seconds)
  }
}
