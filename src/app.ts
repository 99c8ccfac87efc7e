import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { errorHandler, notFoundHandler } from './error-handler.js'
import type { Config } from './config.js'
import type { ObjectStore } from './storage/object-store.js'
import type { ByteCache } from './cache/byte-cache.js'
import type { Database } from './db/collection.js'
import storagePlugin from './storage/storage-plugin.js'
import cachePlugin from './cache/cache-plugin.js'
import dbPlugin from './db/db-plugin.js'
import healthPlugin from '../plugins/health.js'
import docsPlugin from '../plugins/docs.js'
import authPlugin, { type AuthPluginOptions } from '../plugins/auth.js'
import accountsPlugin from '../plugins/accounts.js'
import searchPlugin from '../plugins/search.js'
import metadataPlugin from '../plugins/metadata.js'
import uploadsPlugin from '../plugins/uploads.js'
import captionsPlugin from '../plugins/captions.js'
import deliveryPlugin from './delivery/delivery-plugin.js'
import transcoderPlugin from '../transcoder/worker-plugin.js'
import webPlugin from '../plugins/web.js'
import metricsPlugin from '../plugins/metrics.js'
import { loadSecret } from './secrets.js'
import { keepStringPrototypeFast } from './string-prototype.js'
import { clientErrorHandler, frameworkErrors, refuseDuplicateHost } from './http-conformance.js'

export interface BuildOptions {
  /** Pino options or false; defaults to a pino logger at config.logLevel. */
  logger?: FastifyServerOptions['logger']
  /** Pre-built clients (tests); the app does not close what it was given. */
  storage?: ObjectStore
  cache?: ByteCache
  db?: Database
  /** Login/register attempts per IP per window (tests lower it to reach the limit). */
  authRateLimit?: AuthPluginOptions['rateLimit']
}

/** Builds a ready, not-listening Lectern instance. */
export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  // Every module is loaded by now, ioredis's String subclass among them.
  keepStringPrototypeFast()
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    // Trust one hop: the address nginx appends to X-Forwarded-For ($proxy_add_x_forwarded_for),
    // never what a client wrote there itself (it could pick its own rate-limit key otherwise).
    trustProxy: config.trustProxy ? (_address: string, hop: number) => hop < 1 : false,
    // Large uploads stream through multipart; JSON bodies stay small.
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Router and parser refusals in Lectern's error shape, with Date (src/http-conformance.ts).
    frameworkErrors,
    clientErrorHandler,
    // A streaming server: no bound on a whole request (a 4 GB upload on a slow line takes hours),
    // but a connection on which nothing moves for HTTP_IDLE_TIMEOUT_S is closed, a stalled upload
    // body included; headers must arrive within HTTP_HEADERS_TIMEOUT_S.
    requestTimeout: 0,
    connectionTimeout: config.idleTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs
  }).withTypeProvider<ZodTypeProvider>()
  app.server.headersTimeout = config.headersTimeoutMs

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.decorate('config', config)
  app.decorate('secret', await loadSecret(config))

  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler(notFoundHandler)
  app.addHook('onRequest', refuseDuplicateHost)

  await app.register(storagePlugin, { config, store: options.storage })
  await app.register(cachePlugin, { config, cache: options.cache })
  await app.register(dbPlugin, { config, db: options.db })
  // Before every route, so that its request hooks count them all.
  await app.register(metricsPlugin)
  // Before every route: @fastify/swagger collects routes as they are added.
  await app.register(docsPlugin)
  await app.register(healthPlugin)
  // -- feature plugins: each registers itself below, one line each --
  await app.register(authPlugin, { rateLimit: options.authRateLimit })
  await app.register(accountsPlugin)
  await app.register(searchPlugin)
  await app.register(metadataPlugin)
  await app.register(uploadsPlugin)
  await app.register(captionsPlugin)
  await app.register(deliveryPlugin)
  await app.register(transcoderPlugin)
  await app.register(webPlugin)

  await app.ready()
  return app
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** The server secret (JWT_SECRET or generated into DATA_DIR); derive per-purpose keys with deriveKey(). */
    secret: string
  }
}
