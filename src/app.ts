import { STATUS_CODES } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler, hasZodFastifySchemaValidationErrors, type ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Config } from './config.js'
import type { ObjectStore } from './storage/object-store.js'
import type { ByteCache } from './cache/byte-cache.js'
import type { Database } from './db/collection.js'
import storagePlugin from './storage/storage-plugin.js'
import cachePlugin from './cache/cache-plugin.js'
import dbPlugin from './db/db-plugin.js'
import healthPlugin from '../plugins/health.js'
import { loadSecret } from './secrets.js'

export interface BuildOptions {
  /** Pino options or false; defaults to a pino logger at config.logLevel. */
  logger?: FastifyServerOptions['logger']
  /** Pre-built clients (tests); the app does not close what it was given. */
  storage?: ObjectStore
  cache?: ByteCache
  db?: Database
}

export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
}

/** Builds a ready, not-listening Lectern instance. */
export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    trustProxy: config.trustProxy,
    // Large uploads stream through multipart; JSON bodies stay small.
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    disableRequestLogging: false
  }).withTypeProvider<ZodTypeProvider>()

  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.decorate('config', config)
  app.decorate('secret', await loadSecret(config))

  app.setErrorHandler((err, request, reply) => {
    let statusCode = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    let message = err.message
    let code = typeof err.code === 'string' ? err.code : 'LECTERN_ERR_INTERNAL'
    if (hasZodFastifySchemaValidationErrors(err)) {
      statusCode = 400
      code = 'LECTERN_ERR_VALIDATION'
      message = err.validation.map((v) => {
        const where = v.instancePath.replace(/^\//, '').replace(/\//g, '.')
        return `${err.validationContext ?? 'request'}${where ? '.' + where : ''}: ${v.message ?? 'is invalid'}`
      }).join('; ')
    }
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed')
      message = statusCode === 503 && code !== 'LECTERN_ERR_INTERNAL' ? message : 'Something went wrong on our side; it has been logged.'
    } else {
      request.log.info({ code, statusCode, message }, 'request refused')
    }
    const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
    // A response that already started streaming cannot carry an error body.
    if (reply.sent || reply.raw.headersSent) return
    reply.code(statusCode).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body)
  })

  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = {
      statusCode: 404,
      code: 'LECTERN_ERR_ROUTE_NOT_FOUND',
      error: 'Not Found',
      message: `No route ${request.method} ${request.url.split('?')[0]}`
    }
    reply.code(404).send(body)
  })

  await app.register(storagePlugin, { config, store: options.storage })
  await app.register(cachePlugin, { config, cache: options.cache })
  await app.register(dbPlugin, { config, db: options.db })
  await app.register(healthPlugin)
  // -- feature plugins: each registers itself below, one line each --

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
