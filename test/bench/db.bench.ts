import { createRequire } from 'node:module'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type Nedb from '@seald-io/nedb'
import { openEmbeddedDatabase } from '../../src/db/embedded-database.js'
import type { Collection } from '../../src/db/collection.js'
import { formatBenchResult, type BenchResult } from './bench-result.js'

// The embedded store's facade (filter translation, the per-collection write queue, modifiedCount
// bookkeeping) against the same operations on a bare nedb Datastore, in the same process.

const require = createRequire(import.meta.url)
const Datastore = require('@seald-io/nedb') as typeof Nedb.default

const DOCS = 2000
const OPS = 2000

interface Row { [column: string]: string | number, variant: string, 'ops/s': number, 'µs/op': number }

interface VideoDoc { _id: string, owner: string, status: string, views: number, createdAt: Date }

function doc (i: number): VideoDoc {
  return { _id: `v${String(i).padStart(6, '0')}`, owner: `u${i % 50}`, status: i % 3 === 0 ? 'ready' : 'uploaded', views: 0, createdAt: new Date(1_700_000_000_000 + i * 1000) }
}

async function measure (variant: string, op: (i: number) => Promise<unknown>): Promise<Row> {
  process.stderr.write(`  measuring ${variant} (${OPS} ops)\n`)
  for (let i = 0; i < 100; i++) await op(i)
  const start = process.hrtime.bigint()
  for (let i = 0; i < OPS; i++) await op(i)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return { variant, 'ops/s': Math.round(OPS / seconds), 'µs/op': Math.round(seconds / OPS * 1e6 * 10) / 10 }
}

export async function run (): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-bench-db-'))
  try {
    const db = await openEmbeddedDatabase({ dir: join(dir, 'facade') })
    const videos: Collection<VideoDoc> = db.collection<VideoDoc>('videos')
    await videos.createIndex({ status: 1 })
    const raw = new Datastore<VideoDoc>({ filename: join(dir, 'raw', 'videos.db') })
    await raw.loadDatabaseAsync()
    await raw.ensureIndexAsync({ fieldName: 'status' })
    for (let i = 0; i < DOCS; i++) {
      await videos.insertOne(doc(i))
      await raw.insertAsync(doc(i))
    }
    const id = (i: number) => doc(i % DOCS)._id

    const rows: Row[] = []
    const pair = async (what: string, facade: (i: number) => Promise<unknown>, bare: (i: number) => Promise<unknown>) => {
      const f = await measure(`${what}: facade`, facade)
      const b = await measure(`${what}: bare nedb`, bare)
      rows.push(f, b)
      return `${what}: the facade runs at ${(f['ops/s'] / b['ops/s']).toFixed(2)}x bare nedb`
    }

    const lines = [
      await pair('findOne by _id', (i) => videos.findOne({ _id: id(i) }), (i) => raw.findOneAsync({ _id: id(i) }) as unknown as Promise<unknown>),
      await pair('$inc views', (i) => videos.updateOne({ _id: id(i) }, { $inc: { views: 1 } }), (i) => raw.updateAsync({ _id: id(i) }, { $inc: { views: 1 } })),
      await pair('claim oldest ready', (i) => videos.findOneAndUpdate({ status: 'ready', owner: `u${i % 50}` }, { $set: { status: 'ready' } }, { sort: { createdAt: 1 } }),
        async (i) => {
          const [found] = await raw.findAsync({ status: 'ready', owner: `u${i % 50}` }).sort({ createdAt: 1 }).limit(1)
          if (found !== undefined) await raw.updateAsync({ _id: found._id }, { $set: { status: 'ready' } }, { returnUpdatedDocs: true })
        })
    ]
    await db.close()
    return { name: `embedded metadata store, ${DOCS} documents, ${OPS} sequential operations each`, rows, lines }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(formatBenchResult(await run()) + '\n')
}
