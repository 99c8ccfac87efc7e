import { createHash, timingSafeEqual } from 'node:crypto'
import type { Server } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { ForbiddenError, UnauthorizedError } from '../src/errors.js'
import { lecternRegistry, type UploadProtocol } from '../src/metrics/lectern-registry.js'
import { listenForScrapes, portOf } from '../src/metrics/metrics-server.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The port METRICS_PORT's server listens on once the app is ready; undefined when off. */
    metricsPort: () => number | undefined
  }
}

/** A session counts as active for this long after its last request. */
const ACTIVE_SESSION_MS = 60_000
const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** The upload protocol of a route, if it receives upload bodies. */
function uploadProtocol (method: string, route: string | undefined): UploadProtocol | undefined {
  if (route === '/api/videos' && method === 'POST') return 'multipart'
  if ((route === '/api/uploads' && method === 'POST') || (route === '/api/uploads/:id' && method === 'PATCH')) return 'tus'
  return undefined
}

/**
 * GET /metrics in Prometheus' text format. Not public: on the API port it answers loopback
 * clients that did not come through a proxy, or anyone with `Authorization: Bearer METRICS_TOKEN`;
 * with METRICS_PORT it also answers on a port of its own. Requests are counted and timed here
 * (onResponse); cached media answered ahead of the router are counted by delivery itself.
 */
export default fp(async function metricsPlugin (app) {
  const { config } = app
  const routed = new Map<string, number>()
  const uploadsInFlight: Record<UploadProtocol, number> = { multipart: 0, tus: 0 }
  const uploadBytes: Record<UploadProtocol, number> = { multipart: 0, tus: 0 }
  const receiving = new WeakMap<FastifyRequest, UploadProtocol>()

  const { registry, observeRequest } = lecternRegistry({
    cache: app.cache,
    db: app.db,
    transcoding: () => app.hasDecorator('transcodeWorker') && app.transcodeWorker?.currentJob != null,
    activeSessions: () => (app.hasDecorator('abrSessions') ? app.abrSessions.active(ACTIVE_SESSION_MS) : []),
    uploads: () => ({ inFlight: uploadsInFlight, bytes: uploadBytes }),
    routedRequests: () => routed
  })

  const doneReceiving = (request: FastifyRequest): UploadProtocol | undefined => {
    const protocol = receiving.get(request)
    if (protocol === undefined) return undefined
    receiving.delete(request)
    uploadsInFlight[protocol]--
    return protocol
  }
  app.addHook('onRequest', async (request) => {
    const protocol = uploadProtocol(request.method, request.routeOptions.url)
    if (protocol === undefined) return
    receiving.set(request, protocol)
    uploadsInFlight[protocol]++
  })
  app.addHook('onRequestAbort', async (request) => { doneReceiving(request) })
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const statusClass = `${Math.floor(reply.statusCode / 100)}xx`
    const key = route + ' ' + statusClass
    routed.set(key, (routed.get(key) ?? 0) + 1)
    observeRequest(route, statusClass, reply.elapsedTime / 1000)
    const protocol = doneReceiving(request)
    if (protocol !== undefined && reply.statusCode < 300) {
      const length = Number(request.headers['content-length'])
      if (Number.isSafeInteger(length) && length > 0) uploadBytes[protocol] += length
    }
  })

  const token = config.metricsToken === undefined ? undefined : digest(`Bearer ${config.metricsToken}`)
  function check (request: FastifyRequest): void {
    const auth = request.headers.authorization
    if (token !== undefined && auth !== undefined) {
      if (timingSafeEqual(digest(auth), token)) return
      throw new UnauthorizedError('The bearer token does not match METRICS_TOKEN')
    }
    // The socket's own peer: behind a proxy on this host, the peer is loopback but the client is not.
    const proxied = request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined
    if (!proxied && LOOPBACK.test(request.raw.socket.remoteAddress ?? '')) return
    throw new ForbiddenError(token !== undefined
      ? '/metrics needs Authorization: Bearer <METRICS_TOKEN> from this address'
      : '/metrics answers loopback clients only; set METRICS_TOKEN (bearer) or METRICS_PORT to scrape from elsewhere')
  }

  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    check(request)
    const text = await registry.metrics()
    reply.header('content-type', registry.contentType).header('cache-control', 'no-store')
    return text
  })

  let server: Server | undefined
  app.decorate('metricsPort', () => (server === undefined ? undefined : portOf(server)))
  if (config.metricsPort > 0) {
    app.addHook('onReady', async () => {
      server = await listenForScrapes(registry, config.metricsPort, config.host)
      app.log.info({ port: portOf(server) }, 'metrics: GET /metrics on its own port')
    })
    app.addHook('onClose', async () => {
      await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())))
    })
  }
}, { fastify: '5.x', name: 'lectern-metrics', dependencies: ['lectern-storage', 'lectern-cache', 'lectern-db'] })
