import { randomBytes } from 'node:crypto'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { testConfig } from '../helpers/config.js'
import { requireRedisServer, startRedisServer } from '../helpers/redis-server.js'
import { s3ServerFor } from '../helpers/s3-server.js'
import { registerAccount } from '../plugins/accounts.js'
import { fakeVideo, MP4_HEAD } from '../plugins/multipart-body.js'
import { createUpload, headUpload, patchUpload, settledOffset, startPatch } from './tus-client.js'

// Two API nodes sharing S3 (s3rver), Redis and the metadata store, as behind nginx: a PATCH may
// land on either, so offsets come from storage and locks from Redis.

t.test('two API nodes: an upload moves between them, and their PATCHes never interleave', async (t) => {
  if (!requireRedisServer(t)) return
  const [redis, s3] = await Promise.all([startRedisServer(t), s3ServerFor(t)])
  const env = { ...s3.env, REDIS_URL: redis.url, JWT_SECRET: randomBytes(32).toString('hex') }
  const node1 = await buildApp(await testConfig(t, env), { logger: false })
  t.teardown(() => node1.close())
  // One metadata store for both, as MongoDB would be.
  const node2 = await buildApp(await testConfig(t, env), { logger: false, db: node1.db })
  t.teardown(() => node2.close())
  const origins: string[] = []
  for (const node of [node1, node2]) {
    await node.listen({ port: 0, host: '127.0.0.1' })
    origins.push(`http://127.0.0.1:${(node.server.address() as { port: number }).port}`)
  }
  const [o1, o2] = origins as [string, string]
  const account = await registerAccount(node1)
  const on = (origin: string) => ({ origin, token: account.token })

  // First half to node 1, second half to node 2.
  const file = fakeVideo(10 * 1024 * 1024 + 777)
  const created = await createUpload(on(o1), file.length, { title: 'Across nodes', filename: 'lecture.mp4' })
  t.equal(created.status, 201, created.body)
  const id = created.headers.location!.split('/').pop()!
  const at1 = `${o1}/api/uploads/${id}`
  const at2 = `${o2}/api/uploads/${id}`
  const half = Math.floor(file.length / 2)
  t.equal((await patchUpload(on(o1), at1, 0, file.subarray(0, half))).status, 204, 'first half to node 1')
  t.equal(Number((await headUpload(on(o2), at2)).headers['upload-offset']), half, 'node 2 sees node 1\'s offset')
  const rest = await patchUpload(on(o2), at2, half, file.subarray(half))
  t.equal(rest.status, 204, rest.body)
  const chunks: Buffer[] = []
  for await (const chunk of await node1.storage.get(`originals/${id}`)) chunks.push(chunk as Buffer)
  t.ok(Buffer.concat(chunks).equals(file), 'the original is byte-identical')
  t.equal((await node1.inject({ url: `/api/videos/${id}`, headers: account.auth })).json().status, 'uploaded', 'and it is a video on node 1 too')

  // A is mid-PATCH on node 1 when B PATCHes the same upload on node 2: node 2 asks node 1
  // (through Redis) to let go; A keeps what it sent, B is refused for its stale offset.
  const second = Buffer.concat([MP4_HEAD, randomBytes(3 * 1024 * 1024)])
  const other = Buffer.concat([MP4_HEAD, Buffer.alloc(second.length - MP4_HEAD.length, 0x5a)])
  const id2 = (await createUpload(on(o1), second.length, { title: 'Contended' })).headers.location!.split('/').pop()!
  const a = await startPatch(on(o1), `${o1}/api/uploads/${id2}`, 0, second.length, second.subarray(0, 1024 * 1024))
  const aAnswer = new Promise<string>((resolve) => {
    let text = ''
    a.on('data', (d: Buffer) => { text += d.toString('latin1') })
    a.on('close', () => resolve(text))
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const b = await patchUpload(on(o2), `${o2}/api/uploads/${id2}`, 0, other)
  t.equal(b.status, 409, `B on node 2 is refused once A on node 1 let go (${b.body})`)
  t.match(await aAnswer, /^HTTP\/1\.1 204/, 'A was told where it got to')
  const offset = await settledOffset(on(o2), `${o2}/api/uploads/${id2}`)
  t.ok(offset > 0 && offset <= 1024 * 1024, `A's ${offset} bytes are stored`)
  t.equal((await patchUpload(on(o2), `${o2}/api/uploads/${id2}`, offset, second.subarray(offset))).status, 204, 'A resumes on node 2')
  const stored: Buffer[] = []
  for await (const chunk of await node2.storage.get(`originals/${id2}`)) stored.push(chunk as Buffer)
  t.ok(Buffer.concat(stored).equals(second), 'the original holds A\'s bytes only, in order')
})
