import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Readable } from 'node:stream'
import { pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import { FsObjectStore } from '../../src/storage/fs-object-store.js'
import { LruCache } from '../../src/cache/lru-cache.js'
import { RedisTier } from '../../src/cache/redis-tier.js'
import { TwoTierCache } from '../../src/cache/two-tier-cache.js'
import { launchRedisServer, redisServerMissing } from '../helpers/redis-server.js'
import { formatBenchResult, type BenchResult } from './bench-result.js'

const OBJECT_BYTES = 1024 * 1024
const READS = 1000
const WARMUP = 50
const KEY = 'videos/bench/1/720p/segment-00000.ts'

async function toBuffer (stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

interface Measured {
  variant: string
  'reads/s': number
  'MiB/s': number
  'µs/read': number
}

function row (variant: string, reads: number, bytes: number, start: bigint): Measured {
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return {
    variant,
    'reads/s': Math.round(reads / seconds),
    'MiB/s': Math.round(bytes / OBJECT_BYTES / seconds),
    'µs/read': Math.round(seconds / reads * 1e6 * 100) / 100
  }
}

/** Times `reads` sequential awaited calls of read after a warm-up, and checks the bytes once. */
async function measure (variant: string, expected: Buffer, read: () => Promise<Buffer>, reads = READS): Promise<Measured> {
  process.stderr.write(`  measuring ${variant} (${reads} reads)\n`)
  if (!(await read()).equals(expected)) throw new Error(`${variant} returned different bytes`)
  for (let i = 0; i < WARMUP; i++) await read()
  const start = process.hrtime.bigint()
  let bytes = 0
  for (let i = 0; i < reads; i++) bytes += (await read()).length
  return row(variant, reads, bytes, start)
}

/** The same for a synchronous read, without an await per call. */
function measureSync (variant: string, expected: Buffer, read: () => Buffer | undefined, reads: number): Measured {
  process.stderr.write(`  measuring ${variant} (${reads} reads)\n`)
  if (read()?.equals(expected) !== true) throw new Error(`${variant} returned different bytes`)
  const start = process.hrtime.bigint()
  let bytes = 0
  for (let i = 0; i < reads; i++) bytes += read()!.length
  return row(variant, reads, bytes, start)
}

/** 1 MiB object: the cache's L1 (and L2 when redis-server is installed) against reading it from the fs object store. */
export async function run (): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-bench-cache-'))
  const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger
  const closers: Array<() => Promise<unknown>> = []
  try {
    const store = await FsObjectStore.open({ root: join(dir, 'objects') })
    closers.push(() => store.close())
    const object = randomBytes(OBJECT_BYTES)
    await store.put(KEY, object)
    const load = async () => toBuffer(await store.get(KEY))
    const plainFile = join(dir, 'plain.bin')
    await writeFile(plainFile, object)

    const rows: Measured[] = []
    const storeRow = await measure('fs object store, stream to Buffer (reference)', object, load)
    rows.push(storeRow)
    rows.push(await measure('fs.promises.readFile', object, () => readFile(plainFile)))

    const memory = new TwoTierCache({ l1: new LruCache({ maxBytes: 64 * OBJECT_BYTES }), defaultTtlSeconds: 60 })
    closers.push(() => memory.close())
    const l1Row = await measure('cache.readThrough, L1 hit', object, () => memory.readThrough(KEY, load))
    rows.push(l1Row)
    const peekRow = measureSync('cache.peek, L1 hit (sync, no await)', object, () => memory.peek(KEY), READS * 1000)
    rows.push(peekRow)
    if (memory.stats().originReads !== 1) throw new Error(`expected one origin read, saw ${memory.stats().originReads}`)

    const lines = [
      `L1 readThrough vs fs object store: ${(l1Row['reads/s'] / storeRow['reads/s']).toFixed(1)}x`,
      `L1 peek vs fs object store: ${(peekRow['reads/s'] / storeRow['reads/s']).toFixed(0)}x`,
      'L1 hits hand out the stored Buffer without copying, so their MiB/s is what a reply could be fed, not memory bandwidth'
    ]

    const missing = redisServerMissing()
    if (missing === undefined) {
      const server = await launchRedisServer()
      closers.push(() => server.kill())
      const tier = new RedisTier({ url: server.url, timeoutMs: 1000, maxValueBytes: 16 * OBJECT_BYTES, log })
      // No L1, so every read is an L2 hit: what a node that has not seen the segment yet pays.
      const l2Only = new TwoTierCache({ l1: new LruCache({ maxBytes: 0 }), l2: tier, defaultTtlSeconds: 60 })
      closers.push(() => l2Only.close())
      await tier.connect()
      await l2Only.set(KEY, object)
      const l2Row = await measure('cache.readThrough, L2 hit (Redis, loopback)', object, () => l2Only.readThrough(KEY, load))
      rows.push(l2Row)
      if (l2Only.stats().originReads !== 0) throw new Error('the L2 benchmark read origin')
      lines.push(`L2 (Redis) vs fs object store: ${(l2Row['reads/s'] / storeRow['reads/s']).toFixed(2)}x ` +
        '(L2 is there to spare a remote S3 origin and to share fills between API nodes, not to beat a local disk)')
    } else {
      lines.push(`L2 not measured: ${missing}`)
    }
    return { name: `cache: sequential reads of one 1 MiB object (${READS} each; peek ${READS * 1000})`, rows: rows as unknown as BenchResult['rows'], lines }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatBenchResult(await run()))
}
