import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { createRequire } from 'node:module'
import { gzipSync } from 'node:zlib'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { NodeRequest } from 'srvx/node'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ResumableUploads, UPLOADS_PATH, type Uploader } from '../src/uploads/resumable-uploads.js'
import { RedisLocker } from '../src/uploads/redis-locker.js'
import { errorBodyFor } from '../src/uploads/tus-error.js'
import { currentUser } from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Resumable uploads (tus): the store, the finishing of uploads, the expiry sweep. */
    resumableUploads: ResumableUploads
  }
}

const require = createRequire(import.meta.url)
/** The upload page's tus client, from its npm package (never a CDN), at a URL under the pages' CSP. */
export const TUS_CLIENT_PATH = '/assets/vendor/tus.min.js'

/** The script, its gzip and a validator, read once. */
function tusClientScript (): { body: Buffer, gzip: Buffer, etag: string } {
  const body = readFileSync(require.resolve('tus-js-client/dist/tus.min.js'))
  return { body, gzip: gzipSync(body), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }
}

/** The sweep runs this often (and at start-up): a fraction of the expiry, at most every 10 minutes. */
const sweepEveryMs = (expiryMs: number) => Math.max(10_000, Math.min(10 * 60_000, Math.floor(expiryMs / 4)))

function redisClient (url: string, name: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 2,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2000),
    connectionName: name
  })
}

/**
 * OPTIONS/POST /api/uploads, HEAD/PATCH/DELETE /api/uploads/:id: the tus 1.0 protocol (core,
 * creation, creation-with-upload, termination, expiration) for resumable uploads. A thin HTTP
 * surface: the JWT is checked here, the request body is handed to @tus/server unread, and its
 * answer is sent back, with errors in Lectern's JSON shape.
 */
export default fp(async function uploadsPlugin (app) {
  const users = new WeakMap<IncomingMessage, Uploader>()
  let redis: Redis | undefined
  let subscriber: Redis | undefined
  let locker: RedisLocker | undefined
  if (app.config.redisUrl !== undefined) {
    // Offsets live in the store (shared by every node); locks must be shared too.
    redis = redisClient(app.config.redisUrl, 'lectern-tus-lock')
    subscriber = redisClient(app.config.redisUrl, 'lectern-tus-lock-events')
    for (const client of [redis, subscriber]) {
      client.on('error', (err: Error) => app.log.warn({ err: err.message }, 'upload lock store (redis) unavailable'))
    }
    let lastWarning = 0
    locker = new RedisLocker({
      redis,
      subscriber,
      onRedisAway: (err) => {
        if (Date.now() - lastWarning < 10_000) return
        lastWarning = Date.now()
        app.log.warn({ err: (err as Error)?.message }, 'upload lock store (redis) did not answer; upload locks are taken on this node only meanwhile')
      }
    })
  }
  const uploads = new ResumableUploads({
    config: app.config,
    db: app.db,
    storage: app.storage,
    log: app.log,
    locker,
    uploaderOf: (req) => users.get(req)
  })
  await uploads.init()
  app.decorate('resumableUploads', uploads)

  const sweep = () => {
    uploads.sweep().catch((err: unknown) => app.log.warn({ err }, 'the resumable upload sweep failed; it runs again later'))
  }
  const timer = setInterval(sweep, sweepEveryMs(app.config.uploadExpiryMs))
  timer.unref()
  setImmediate(sweep)
  // Requests whose bodies are being stored. On close they are cut rather than waited for (a PATCH
  // may last an hour): each stores what it has received, and its client resumes on another node.
  const receiving = new Set<IncomingMessage>()
  app.addHook('preClose', async () => {
    for (const req of receiving) req.socket.destroy()
  })
  app.addHook('onClose', async () => {
    clearInterval(timer)
    uploads.close()
    for (const client of [subscriber, redis]) await client?.quit().catch(() => client.disconnect())
  })

  async function handle (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const user = currentUser(request)
    if (user !== undefined) users.set(request.raw, { sub: user.sub })
    const hasBody = request.method === 'PATCH' || request.method === 'POST'
    if (hasBody) receiving.add(request.raw)
    let response: Response
    try {
      response = await uploads.tus.handleWeb(new NodeRequest({ req: request.raw, res: reply.raw }))
    } finally {
      receiving.delete(request.raw)
    }
    // Clients learn the limit before they create an upload.
    if (request.method === 'OPTIONS') reply.header('tus-max-size', String(app.config.uploadMaxBytes))
    const status = response.status
    for (const [name, value] of response.headers) {
      if (name !== 'content-length' && name !== 'content-type') reply.header(name, value)
    }
    if (status >= 400) {
      const body = errorBodyFor(status, await response.text())
      // A body we did not read (a refused PATCH or POST) is not worth reading: close after answering.
      if (!request.raw.complete) reply.header('connection', 'close')
      request.log.info({ code: body.code, statusCode: body.statusCode, message: body.message }, 'upload request refused')
      // A dependency away (storage): the client may try again shortly, as with every other 503.
      if (body.statusCode === 503) reply.header('retry-after', '5')
      reply.code(body.statusCode).header('cache-control', 'no-store').type('application/json; charset=utf-8')
      return await reply.send(body)
    }
    reply.code(status)
    const text = response.body === null ? '' : await response.text()
    if (text === '') return await reply.send()
    // The video's JSON, to a final PATCH that asked for it; tus's own bodies are plain text.
    return await reply.type(response.headers.get('content-type') ?? 'text/plain; charset=utf-8').send(text)
  }

  await app.register(async function tusRoutes (child) {
    // The body is the upload's bytes: @tus/server reads it from the socket, with backpressure.
    child.removeAllContentTypeParsers()
    child.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
    const hide = { hide: true }
    child.route({ method: 'OPTIONS', url: UPLOADS_PATH, schema: hide, handler: handle })
    child.route({ method: 'OPTIONS', url: `${UPLOADS_PATH}/:id`, schema: hide, handler: handle })
    child.route({ method: 'POST', url: UPLOADS_PATH, schema: hide, preHandler: [app.authenticateUploader, app.checkUploadQuota], handler: handle })
    child.route({ method: ['HEAD', 'PATCH', 'DELETE'], url: `${UPLOADS_PATH}/:id`, schema: hide, preHandler: app.authenticate, handler: handle })
  })

  const script = tusClientScript()
  app.get(TUS_CLIENT_PATH, { schema: { hide: true } }, async (request, reply) => {
    // Unversioned URL (the page names it), so browsers revalidate it rather than keep an old one.
    reply.header('cache-control', 'no-cache').header('etag', script.etag).header('vary', 'accept-encoding')
    if (request.headers['if-none-match'] === script.etag) return await reply.code(304).send()
    reply.type('text/javascript; charset=utf-8')
    if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      return await reply.header('content-encoding', 'gzip').send(script.gzip)
    }
    return await reply.send(script.body)
  })
}, { fastify: '5.x', name: 'lectern-uploads', dependencies: ['lectern-auth', 'lectern-db', 'lectern-storage'] })
