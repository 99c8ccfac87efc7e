import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import type { Database } from './collection.js'
import { openDatabase } from './open-database.js'
import { ensureIndexes } from './ensure-indexes.js'

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
  // openDatabase creates the indexes; a database handed in (tests) gets them here.
  const database = db ?? await openDatabase(config, app.log)
  if (db !== undefined) await ensureIndexes(db)
  app.decorate('db', database)
  if (db === undefined) app.addHook('onClose', async () => { await database.close() })
}, { fastify: '5.x', name: 'lectern-db' })
