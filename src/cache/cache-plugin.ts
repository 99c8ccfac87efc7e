import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import type { ByteCache } from './byte-cache.js'
import { createByteCache } from './create-byte-cache.js'

declare module 'fastify' {
  interface FastifyInstance {
    cache: ByteCache
  }
}

export interface CachePluginOptions {
  config: Config
  cache?: ByteCache
}

export default fp<CachePluginOptions>(async function cachePlugin (app, { config, cache }) {
  const byteCache = cache ?? createByteCache(config, app.log)
  app.decorate('cache', byteCache)
  if (cache === undefined) app.addHook('onClose', async () => { await byteCache.close() })
}, { fastify: '5.x', name: 'lectern-cache' })
