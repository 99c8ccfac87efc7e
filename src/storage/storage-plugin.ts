import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import type { ObjectStore } from './object-store.js'
import { createObjectStore } from './create-object-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    storage: ObjectStore
  }
}

export interface StoragePluginOptions {
  config: Config
  /** Tests may pass a store they built; the plugin then does not close it. */
  store?: ObjectStore
}

export default fp<StoragePluginOptions>(async function storagePlugin (app, { config, store }) {
  const storage = store ?? await createObjectStore(config, app.log)
  app.decorate('storage', storage)
  if (store === undefined) app.addHook('onClose', async () => { await storage.close() })
}, { fastify: '5.x', name: 'lectern-storage' })
