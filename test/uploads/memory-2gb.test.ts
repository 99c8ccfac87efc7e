import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import { S3ObjectStore } from '../../src/storage/s3-object-store.js'
import { s3ServerFor } from '../helpers/s3-server.js'
import { tempDir } from '../helpers/config.js'
import { MP4_HEAD } from '../plugins/multipart-body.js'
import { startLectern } from './lectern-process.js'
import { createUpload, patchUpload, TUS } from './tus-client.js'

// A 2 GB upload over tus into a Lectern process of its own, in four PATCHes of 512 MB, with the
// server's resident memory sampled from /proc all along: it must stay flat (the bytes stream to
// disk, or to S3 in parts through temp files, never into memory), and the original must be the
// 2 GB that were sent. Once on the file store, once on S3 (s3rver).

const SIZE = 2 * 1024 * 1024 * 1024
const PATCH_BYTES = 512 * 1024 * 1024
const BLOCK = 1024 * 1024

async function rssOf (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024
}

/** The server under the watchdog: its only child. */
async function serverPid (watchdog: number): Promise<number> {
  const children = (await readFile(`/proc/${watchdog}/task/${watchdog}/children`, 'utf8')).trim().split(/\s+/).map(Number)
  if (children.length !== 1 || !Number.isFinite(children[0])) throw new Error(`the watchdog ${watchdog} has children ${children.join(', ')}`)
  return children[0]!
}

async function measure (t: Test, env: Record<string, string>, original: (id: string, dataDir: string) => Promise<Readable>): Promise<void> {
  const dataDir = await tempDir(t, 'lectern-2gb-')
  const server = await startLectern(t, { DATA_DIR: dataDir, WORKER: 'off', UPLOAD_MAX_MB: '4096', JWT_SECRET: randomBytes(32).toString('hex'), ...env })
  const pid = await serverPid(server.child.pid!)
  const register = await fetch(`${server.origin}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.org', password: 'correct horse battery', name: 'Ada' })
  })
  const { token } = await register.json() as { token: string }
  const target = { origin: server.origin, token }

  // A small upload first, so what the server loads on first use is in the baseline.
  const warm = Buffer.concat([MP4_HEAD, randomBytes(4 * 1024 * 1024)])
  const warmUrl = (await createUpload(target, warm.length, { title: 'warm-up' })).headers.location!
  t.equal((await patchUpload(target, warmUrl, 0, warm)).status, 204)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const baseline = await rssOf(pid)

  // The bytes: one random 1 MiB block (starting like an MP4) repeated, each copy's first 8 bytes
  // its index, so a misplaced block would show in the hash.
  const block = randomBytes(BLOCK)
  MP4_HEAD.copy(block, 0)
  const blockAt = (i: number) => {
    if (i === 0) return block
    const b = Buffer.from(block)
    b.writeBigUInt64BE(BigInt(i), 0)
    return b
  }
  const sentHash = createHash('sha256')

  const created = await createUpload(target, SIZE, { title: 'Two gigabytes', filename: 'long-lecture.mp4' })
  t.equal(created.status, 201, created.body)
  const url = created.headers.location!
  let peak = baseline
  const samples: number[] = []
  const sampler = setInterval(() => {
    rssOf(pid).then((rss) => { peak = Math.max(peak, rss); samples.push(rss) }, () => {})
  }, 100)
  t.teardown(() => clearInterval(sampler))

  const started = Date.now()
  for (let offset = 0; offset < SIZE; offset += PATCH_BYTES) {
    const req = httpRequest(url, {
      method: 'PATCH',
      headers: { ...TUS, authorization: `Bearer ${token}`, 'upload-offset': offset, 'content-type': 'application/offset+octet-stream', 'content-length': PATCH_BYTES }
    })
    const response = once(req, 'response') as Promise<[IncomingMessage]>
    for (let i = offset / BLOCK; i < (offset + PATCH_BYTES) / BLOCK; i++) {
      const b = blockAt(i)
      sentHash.update(b)
      if (!req.write(b)) await once(req, 'drain')
    }
    req.end()
    const [res] = await response
    res.resume()
    t.equal(res.statusCode, 204, `PATCH at ${offset / 1024 / 1024} MB`)
    t.equal(res.headers['upload-offset'], String(offset + PATCH_BYTES))
  }
  clearInterval(sampler)
  const seconds = (Date.now() - started) / 1000

  const id = url.split('/').pop()!
  const storedHash = createHash('sha256')
  for await (const chunk of await original(id, dataDir)) storedHash.update(chunk as Buffer)
  t.equal(storedHash.digest('hex'), sentHash.digest('hex'), 'the original is the 2 GB that were sent')

  const mb = (n: number) => Math.round(n / 1024 / 1024)
  const sorted = [...samples].sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] ?? baseline
  t.comment(`2 GB in ${seconds.toFixed(1)} s (${(2048 / seconds).toFixed(0)} MB/s); server RSS: baseline ${mb(baseline)} MB, median ${mb(median)} MB, peak ${mb(peak)} MB over ${samples.length} samples`)
  // Holding the upload would add 2 GB; streaming costs a few buffers and the GC's slack.
  t.ok(peak - baseline < 96 * 1024 * 1024, `the server's RSS grew ${mb(peak - baseline)} MB at most while 2 GB went through`)
  // Flat, not slowly climbing: the last quarter of the upload uses no more than the first.
  const quarter = Math.max(1, Math.floor(samples.length / 4))
  const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
  const early = medianOf(samples.slice(0, quarter))
  const late = medianOf(samples.slice(-quarter))
  t.ok(late - early < 32 * 1024 * 1024, `no climb: median RSS ${mb(early)} MB in the first quarter, ${mb(late)} MB in the last`)
  t.equal(await server.stop(), 0)
}

const linux = process.platform === 'linux' ? false : 'reads /proc'

t.test('a 2 GB resumable upload to the file store: the server\'s memory stays flat', { skip: linux }, async (t) => {
  await measure(t, {}, async (id, dataDir) => createReadStream(join(dataDir, 'objects', 'originals', id)))
})

t.test('a 2 GB resumable upload to S3: the server\'s memory stays flat', { skip: linux }, async (t) => {
  const s3 = await s3ServerFor(t)
  const bucket = new S3ObjectStore({ config: loadConfig({ ...s3.env, S3_REGION: 'us-east-1' }).s3! })
  t.teardown(() => bucket.close())
  await measure(t, { ...s3.env, S3_REGION: 'us-east-1' }, async (id) => await bucket.get(`originals/${id}`))
})
