import { randomBytes } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helpers/config.js'
import { fakeVideo } from '../plugins/multipart-body.js'
import { startLectern } from './lectern-process.js'
import { createUpload, headUpload, patchUpload, startPatch, until } from './tus-client.js'

// The API node an upload is talking to dies (SIGKILL: no graceful close) in the middle of a
// PATCH. The node that answers next (here: the one started again on the same DATA_DIR, as a
// supervisor would) resumes the upload from the bytes that reached the disk.

t.test('an upload survives the kill of the node it was sending to', async (t) => {
  const dataDir = await tempDir(t, 'lectern-killed-')
  const env = { DATA_DIR: dataDir, WORKER: 'off', JWT_SECRET: randomBytes(32).toString('hex') }
  const first = await startLectern(t, env)

  const register = await fetch(`${first.origin}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.org', password: 'correct horse battery', name: 'Ada' })
  })
  t.equal(register.status, 201)
  const { token, user } = await register.json() as { token: string, user: { id: string } }

  const file = fakeVideo(6 * 1024 * 1024)
  const created = await createUpload({ origin: first.origin, token }, file.length, { title: 'Survives a crash', filename: 'lecture.mp4' })
  t.equal(created.status, 201, created.body)
  const id = created.headers.location!.split('/').pop()!
  const tusFile = join(dataDir, 'uploads', id)

  // Half the file on its way; once some of it is on disk, the node dies.
  const socket = await startPatch({ origin: first.origin, token }, created.headers.location!, 0, file.length, file.subarray(0, 3 * 1024 * 1024))
  t.ok(await until(async () => (await stat(tusFile)).size > 1024 * 1024, 10_000), 'the node was writing the upload')
  await first.kill()
  await until(async () => socket.destroyed || socket.readableEnded, 5000)
  socket.destroy()

  const second = await startLectern(t, env)
  const target = { origin: second.origin, token }
  const url = `${second.origin}/api/uploads/${id}`
  const head = await headUpload(target, url)
  t.equal(head.status, 200, head.body)
  const offset = Number(head.headers['upload-offset'])
  t.ok(offset > 1024 * 1024 && offset <= 3 * 1024 * 1024, `the next node resumes from ${offset}, what reached the disk`)
  const rest = await patchUpload(target, url, offset, file.subarray(offset))
  t.equal(rest.status, 204, rest.body)

  const video = await fetch(`${second.origin}/api/videos/${id}`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(video.status, 200)
  t.match(await video.json(), { id, owner: user.id, status: 'uploaded', originalSize: file.length })
  const original = await readFile(join(dataDir, 'objects', 'originals', id))
  t.ok(original.equals(file), 'the original is byte-identical to the file')
  t.equal(await second.stop(), 0, 'the second node exits cleanly')
})

t.test('a node that shuts down (SIGTERM) cuts its uploads at once, keeping what they sent', async (t) => {
  const dataDir = await tempDir(t, 'lectern-closing-')
  const env = { DATA_DIR: dataDir, WORKER: 'off', JWT_SECRET: randomBytes(32).toString('hex') }
  const first = await startLectern(t, env)
  const register = await fetch(`${first.origin}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ada@example.org', password: 'correct horse battery', name: 'Ada' })
  })
  const { token } = await register.json() as { token: string }
  const file = fakeVideo(6 * 1024 * 1024)
  const created = await createUpload({ origin: first.origin, token }, file.length, { title: 'Outlives a restart' })
  const id = created.headers.location!.split('/').pop()!
  // A PATCH that would go on for a long time: half its body sent, the rest never.
  const socket = await startPatch({ origin: first.origin, token }, created.headers.location!, 0, file.length, file.subarray(0, 3 * 1024 * 1024))
  t.ok(await until(async () => (await stat(join(dataDir, 'uploads', id))).size >= 3 * 1024 * 1024, 10_000), 'the node has the first half')
  const stopping = Date.now()
  t.equal(await first.stop(), 0, 'the node exits 0')
  t.ok(Date.now() - stopping < 5000, `without waiting for the upload to finish (${Date.now() - stopping} ms)`)
  socket.destroy()

  const second = await startLectern(t, env)
  const url = `${second.origin}/api/uploads/${id}`
  const offset = Number((await headUpload({ origin: second.origin, token }, url)).headers['upload-offset'])
  t.equal(offset, 3 * 1024 * 1024, 'every byte it had received was kept')
  t.equal((await patchUpload({ origin: second.origin, token }, url, offset, file.subarray(offset))).status, 204)
  t.ok((await readFile(join(dataDir, 'objects', 'originals', id))).equals(file), 'the original is byte-identical')
  t.equal(await second.stop(), 0)
})
