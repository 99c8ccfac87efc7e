import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import type { Database } from './collection.js'
import { openDatabase } from './open-database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

export interface DbPluginOptions {
  config: Config
  db?: Database
}

export default fp<DbPluginOptions>(async function dbPlugin (app, { config, db }) {
  const database = db ?? await openDatabase(config, app.log)
  app.decorate('db', database)
  if (db === undefined) app.addHook('onClose', async () => { await database.close() })
}, { fastify: '5.x', name: 'lectern-db' })
