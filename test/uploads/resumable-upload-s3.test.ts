import t from 'tap'
import { s3ServerFor } from '../helpers/s3-server.js'
import { resumableUploadContract, start } from './resumable-upload.contract.js'
import { registerAccount } from '../plugins/accounts.js'
import { fakeVideo } from '../plugins/multipart-body.js'
import { createUpload, patchUpload } from './tus-client.js'

// Resumable uploads with objects on S3 (s3rver): an S3 multipart upload at originals/<id>, its
// tus bookkeeping under uploads/, and the same guarantees as on disk.
resumableUploadContract(t, {
  name: 's3',
  env: async (t) => (await s3ServerFor(t)).env
})

t.test('s3: the sweep aborts an expired upload\'s multipart upload', async (t) => {
  const s3 = await s3ServerFor(t)
  // Long enough for the first PATCH to arrive on a loaded machine; the sweep runs after it.
  const expiryMs = 4000
  const { app, origin, leftovers } = await start(t, { name: 's3', env: async () => s3.env }, {}, { uploadExpiryMs: expiryMs })
  const account = await registerAccount(app)
  const target = { origin, token: account.token }
  // What the store asks of S3, seen at the client (s3rver itself has no AbortMultipartUpload to show it).
  const sent: Array<{ command: string, key: unknown }> = []
  const client = (app.resumableUploads.store.inner as unknown as { client: { middlewareStack: { add: (mw: unknown, options: unknown) => void } } }).client
  client.middlewareStack.add((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input?: { Key?: unknown } }) => {
    sent.push({ command: context.commandName ?? '?', key: args.input?.Key })
    return await next(args)
  }, { step: 'initialize' })

  const file = fakeVideo(9 * 1024 * 1024)
  const createdAt = Date.now()
  const url = (await createUpload(target, file.length, { title: 'abandoned' })).headers.location!
  const id = url.split('/').pop()!
  t.equal((await patchUpload(target, url, 0, file.subarray(0, 8 * 1024 * 1024 + 1000))).status, 204, 'one part and a tail stored')
  t.ok(sent.some((c) => c.command === 'UploadPartCommand' && c.key === `originals/${id}`), 'a multipart part went to originals/<id>')
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, createdAt + expiryMs + 200 - Date.now())))
  t.equal(await app.resumableUploads.sweep(), 1)
  t.ok(sent.some((c) => c.command === 'AbortMultipartUploadCommand' && c.key === `originals/${id}`), 'the sweep aborted the multipart upload')
  t.same(await leftovers(), [], 'and removed its .info, its pending .part and its record')
})
