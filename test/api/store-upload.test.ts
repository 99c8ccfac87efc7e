import { Readable } from 'node:stream'
import t from 'tap'
import { storeUpload } from '../../src/api/store-upload.js'
import { PayloadTooLargeError, StorageUnavailableError } from '../../src/errors.js'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { createObjectStore } from '../../src/storage/create-object-store.js'
import { testConfig } from '../helpers/config.js'
import { silentLog } from '../transcoder/fixtures.js'

// A store that has stopped answering fails an upload's put after its timeout (test/faults/s3-hung
// shows it with a real s3rver); the clean-up delete that follows would wait just as long. That
// second wait is the one fault here that is injected: a delete that never settles, so that an
// upload that waited for it would never be answered at all.

const mp4Head = (): Buffer => {
  // an ISO BMFF 'ftyp' box: what the sniffer takes for a video
  const b = Buffer.alloc(64 * 1024)
  b.writeUInt32BE(24, 0)
  b.write('ftypisom', 4, 'latin1')
  return b
}

t.test('with the store away, the uploader gets the 503 at once; the delete goes on without it', async (t) => {
  let deletes = 0
  const away: ObjectStore = {
    put: async (_key: string, body: Readable) => {
      body.resume()
      throw new StorageUnavailableError()
    },
    delete: async () => {
      deletes++
      return await new Promise<void>(() => {})
    }
  } as unknown as ObjectStore
  await t.rejects(storeUpload(away, 'originals/x', Readable.from([mp4Head()]), { maxBytes: 1 << 20 }), StorageUnavailableError)
  t.equal(deletes, 1, 'the clean-up was started')
})

t.test('any other failure still waits for the clean-up before answering', async (t) => {
  const config = await testConfig(t)
  const storage = await createObjectStore(config, silentLog)
  t.teardown(async () => { await storage.close() })
  let deleted = false
  const store: ObjectStore = Object.create(storage, {
    delete: { value: async (key: string) => { await new Promise((resolve) => setTimeout(resolve, 50)); await storage.delete(key); deleted = true } }
  })
  const tooBig = Buffer.concat([mp4Head(), Buffer.alloc(2 << 20)])
  await t.rejects(storeUpload(store, 'originals/y', Readable.from([tooBig]), { maxBytes: 1 << 20 }), PayloadTooLargeError)
  t.ok(deleted, 'the delete had finished when the upload was answered')
  await t.rejects(storage.head('originals/y'), 'nothing left')
})
