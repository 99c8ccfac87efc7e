import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { FsObjectStore, TEMP_DIR } from '../../src/storage/fs-object-store.js'
import { tempDir } from '../helpers/config.js'
import { objectStoreContract } from './object-store.contract.js'

async function openStore (t: Parameters<typeof tempDir>[0]) {
  const root = join(await tempDir(t), 'objects')
  const store = await FsObjectStore.open({ root })
  t.teardown(() => store.close())
  return { store, root }
}

objectStoreContract(t, async (t) => {
  const { store } = await openStore(t)
  return { store, leftovers: () => readdir(store.tempDir) }
})
