import { join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { Database } from './collection.js'
import { openEmbeddedDatabase } from './embedded-database.js'
import { openMongoDatabase } from './mongo-database.js'
import { ensureIndexes } from './ensure-indexes.js'

/** MongoDB when MONGODB_URL is set, else the embedded store in DATA_DIR/db; indexes ensured. */
export async function openDatabase (config: Config, log: FastifyBaseLogger): Promise<Database> {
  const db: Database = config.mongodbUrl !== undefined
    ? await openMongoDatabase({ url: config.mongodbUrl, operationTimeoutMs: config.mongodbOperationTimeoutMs, log })
    : await openEmbeddedDatabase({ dir: join(config.dataDir, 'db'), log })
  try {
    await ensureIndexes(db)
  } catch (err) {
    await db.close().catch(() => {})
    throw new Error(`Could not create the ${db.kind} database indexes: ${(err as Error).message}`)
  }
  log.info({ kind: db.kind }, 'metadata store ready')
  return db
}
