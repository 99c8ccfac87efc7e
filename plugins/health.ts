import fp from 'fastify-plugin'
import { z } from 'zod'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { RECOMMENDED_NOTSENT_LOWAT, readNotsentLowat } from '../src/delivery/tcp-notsent-lowat.js'
import { checkTools } from '../transcoder/check-tools.js'
import { dependencyOutages, type OutageLog } from '../src/dependency-outages.js'
import { unreachableReason } from '../src/errors.js'

const PROBE_TIMEOUT_MS = 2000

type Status = 'ok' | 'down' | 'disabled'

class ProbeTimeout extends Error {}
const timedOut = (err: unknown) => err instanceof ProbeTimeout

/**
 * Resolves 'ok' if probe settles in time, 'down' (with the reason logged) otherwise; either way
 * the answer goes into the dependency's outage log.
 */
async function check (name: string, probe: (signal: AbortSignal) => Promise<unknown>, log: { warn: (o: object, m: string) => void }, outages: OutageLog): Promise<Status> {
  let timer: NodeJS.Timeout | undefined
  // Told to the probe too, so a probe of a server that does not answer ends with the check
  // instead of holding a connection until the client's own timeouts: a load balancer probing a
  // hung store every few seconds would otherwise pile them up.
  const stop = new AbortController()
  try {
    await Promise.race([
      probe(stop.signal),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new ProbeTimeout(`no answer within ${PROBE_TIMEOUT_MS} ms`))
          stop.abort()
        }, PROBE_TIMEOUT_MS)
      })
    ])
    outages.up()
    return 'ok'
  } catch (err) {
    log.warn({ dependency: name, err: (err as Error).message }, 'readiness probe failed')
    outages.down(timedOut(err) ? 'timed out' : unreachableReason((err as Error).cause ?? err) ?? 'did not answer the readiness probe')
    return 'down'
  } finally {
    clearTimeout(timer)
  }
}

const statusSchema = z.enum(['ok', 'down', 'disabled'])
const outageSchema = z.object({
  from: z.string().describe('when this process first saw the dependency fail (ISO 8601)'),
  to: z.string().nullable().describe('when it answered again; null while the outage goes on'),
  error: z.string().describe('what was seen, e.g. "connection refused", "timed out"')
})
const outagesSchema = z.array(outageSchema).describe('newest first: the outage going on, if any, then the last 10 that ended within the hour, as this process saw them')
const readySchema = z.object({
  status: z.enum(['ok', 'down']),
  dependencies: z.object({
    storage: statusSchema,
    database: statusSchema,
    cacheMemory: statusSchema,
    cacheRedis: statusSchema,
    transcoder: statusSchema.describe('ffmpeg and ffprobe answer -version (checked once at start); disabled when this node runs no worker (WORKER=off)')
  }),
  outages: z.object({
    storage: outagesSchema,
    database: outagesSchema,
    cacheRedis: outagesSchema
  }).describe('what happened meanwhile: outages seen by requests, the clients and these probes, kept in process'),
  details: z.object({
    transcoder: z.string().nullable().describe('what is wrong with ffmpeg or ffprobe, and how to fix it; null when nothing is'),
    tcpNotsentLowat: z.number().nullable().describe('net.ipv4.tcp_notsent_lowat in bytes; null when unlimited (the kernel default)'),
    throughputSampling: z.enum(['precise', 'coarse']).describe("precise: 'finish' of a large segment tracks its real transfer; coarse: throughput comes from request gaps and players' reports")
  })
})

export default fp(async function healthPlugin (fastify) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const lowat = readNotsentLowat()
  // Checked once: ffmpeg does not come and go while the server runs, and every upload fails without it.
  const tools = app.config.worker === 'inline' ? await checkTools(app.config) : null
  const transcoder: Status = tools === null ? 'disabled' : tools.problem === null ? 'ok' : 'down'
  const details = { transcoder: tools?.problem ?? null, tcpNotsentLowat: lowat.bytes, throughputSampling: lowat.preciseFinish ? 'precise' as const : 'coarse' as const }
  if (!lowat.preciseFinish) {
    app.log.info({ tcpNotsentLowat: lowat.bytes }, `net.ipv4.tcp_notsent_lowat is ${lowat.bytes ?? 'unlimited'}: per-session throughput comes from request gaps and players' CMCD; set it to ${RECOMMENDED_NOTSENT_LOWAT} for samples from every large segment (see README, Adaptive bitrate)`)
  } else {
    app.log.info({ tcpNotsentLowat: lowat.bytes }, 'net.ipv4.tcp_notsent_lowat is low enough for throughput samples from large segments')
  }

  app.get('/health/live', {
    schema: { tags: ['health'], summary: 'The process is up', response: { 200: z.object({ status: z.literal('ok'), uptime: z.number() }) } }
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return { status: 'ok' as const, uptime: process.uptime() }
  })

  app.get('/health/ready', {
    schema: {
      tags: ['health'],
      summary: 'Storage, database and cache tiers each answer, and ffmpeg runs where this node transcodes',
      response: { 200: readySchema, 503: readySchema }
    }
  }, async (request, reply) => {
    const [storage, database, cacheTiers] = await Promise.all([
      check('storage', (signal) => app.storage.probe(signal), request.log, dependencyOutages.storage),
      check('database', () => app.db.probe(), request.log, dependencyOutages.database),
      app.cache.probe().catch(() => ({ memory: 'down' as const, redis: 'down' as const }))
    ])
    if (cacheTiers.redis === 'ok') dependencyOutages.cacheRedis.up()
    if (cacheTiers.redis === 'down') dependencyOutages.cacheRedis.down('did not answer PING')
    const dependencies = { storage, database, cacheMemory: cacheTiers.memory, cacheRedis: cacheTiers.redis, transcoder }
    const down = Object.values(dependencies).includes('down')
    reply.header('cache-control', 'no-store').code(down ? 503 : 200)
    const outages = { storage: dependencyOutages.storage.recent(), database: dependencyOutages.database.recent(), cacheRedis: dependencyOutages.cacheRedis.recent() }
    return { status: down ? 'down' as const : 'ok' as const, dependencies, outages, details }
  })
}, { fastify: '5.x', name: 'lectern-health', dependencies: ['lectern-storage', 'lectern-db', 'lectern-cache'] })
