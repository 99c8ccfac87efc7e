import { readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { FsObjectStore, TEMP_DIR } from '../../src/storage/fs-object-store.js'
import { tempDir } from '../helpers/config.js'
import { chunkedStream, objectStoreContract, patternBytes, readAll } from './object-store.contract.js'

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

t.test('fs: keys never leave the root, symlinks included', async (t) => {
  const { store, root } = await openStore(t)
  const outside = await tempDir(t, 'lectern-outside-')
  await writeFile(join(outside, 'secret'), 'outside the root')
  await symlink(outside, join(root, 'evil'))
  await symlink(join(outside, 'secret'), join(root, 'link'))

  for (const key of ['evil/secret', 'link']) {
    await t.rejects(store.get(key), { code: 'LECTERN_ERR_INVALID_KEY', message: /outside the storage root/ }, `get ${key}`)
    await t.rejects(store.head(key), { code: 'LECTERN_ERR_INVALID_KEY' }, `head ${key}`)
    await store.delete(key)
  }
  await t.rejects(store.put('evil/planted', Buffer.from('x')), { code: 'LECTERN_ERR_INVALID_KEY' }, 'put through a symlinked directory')
  t.same(await readdir(outside), ['secret'], 'nothing was written outside')
  t.same(await store.list(''), [], 'symlinks are not followed by list')
  t.same(await store.list('evil/'), [], 'nor by a list that starts inside one')
  t.equal(await store.deletePrefix(''), 0)
  t.equal(await store.deletePrefix('evil/'), 0)
  t.equal(await readFile(join(outside, 'secret'), 'utf8'), 'outside the root', 'the outside file survived')
  t.same(await readdir(store.tempDir), [], 'the refused put left no temp file')
})

t.test('fs: the temp directory is neither an object nor listed', async (t) => {
  const { store } = await openStore(t)
  await store.put('a', Buffer.from('a'))
  await writeFile(join(store.tempDir, 'in-progress'), 'partial')
  t.same((await store.list('')).map((o) => o.key), ['a'])
  t.same((await store.list('.t')).map((o) => o.key), [])
  await t.rejects(store.get(`${TEMP_DIR}/in-progress`), { code: 'LECTERN_ERR_INVALID_KEY', message: /reserved/ })
  await t.rejects(store.put(`${TEMP_DIR}/x`, Buffer.from('x')), { code: 'LECTERN_ERR_INVALID_KEY' })
  t.equal(await store.deletePrefix(''), 1)
  t.same(await readdir(store.tempDir), ['in-progress'], 'deletePrefix("") spares writes in progress')
})

t.test('fs: delete prunes directories left empty, and only those', async (t) => {
  const { store, root } = await openStore(t)
  await store.put('videos/v1/720p/seg-0.ts', Buffer.from('0'))
  await store.put('videos/v1/720p/seg-1.ts', Buffer.from('1'))
  await store.put('videos/v2/master.m3u8', Buffer.from('m'))
  await store.delete('videos/v1/720p/seg-0.ts')
  t.same(await readdir(join(root, 'videos/v1/720p')), ['seg-1.ts'])
  await store.delete('videos/v1/720p/seg-1.ts')
  t.same((await readdir(join(root, 'videos'))).sort(), ['v2'], 'v1 and v1/720p are gone')
  t.equal(await store.deletePrefix('videos/'), 1)
  t.same((await readdir(root)).sort(), [TEMP_DIR], 'only the temp directory remains')
  // A put into a directory that was just pruned recreates it.
  await store.put('videos/v1/720p/seg-0.ts', Buffer.from('again'))
  t.equal((await readAll(await store.get('videos/v1/720p/seg-0.ts'))).toString(), 'again')
})

t.test('fs: an object and a directory cannot share a name; the error says why', async (t) => {
  const { store } = await openStore(t)
  await store.put('x/y', Buffer.from('file'))
  await t.rejects(store.put('x/y/z', Buffer.from('under a file')), { code: 'LECTERN_ERR_CONFLICT', statusCode: 409, message: /leading part of the key is already an object/ })
  await t.rejects(store.put('x', Buffer.from('over a directory')), { code: 'LECTERN_ERR_CONFLICT', message: /other objects are stored under "x\/"/ })
  t.same((await store.list('')).map((o) => o.key), ['x/y'])
  t.same(await readdir(store.tempDir), [], 'the refused puts left no temp files')
})

t.test('fs: a reader keeps the version it opened while a put replaces it', async (t) => {
  const { store } = await openStore(t)
  const v1 = patternBytes(2 * 1024 * 1024, 21)
  const v2 = patternBytes(2 * 1024 * 1024, 22)
  await store.put('movie', v1)
  const reading = await store.get('movie', { range: { start: 1000, end: v1.length - 1 } })
  await store.put('movie', chunkedStream(v2))
  t.ok((await readAll(reading)).equals(v1.subarray(1000)), 'the open read finished on the old bytes')
  t.ok((await readAll(await store.get('movie'))).equals(v2), 'a new read sees the new bytes')
})

t.test('fs: concurrent puts of one key leave one whole version', async (t) => {
  const { store } = await openStore(t)
  const versions = [1, 2, 3, 4, 5, 6].map((seed) => patternBytes(512 * 1024 + seed, 30 + seed))
  const infos = await Promise.all(versions.map((v) => store.put('race/k', chunkedStream(v, 7_001))))
  const final = await readAll(await store.get('race/k'))
  t.ok(versions.some((v) => v.equals(final)), 'the object is exactly one of the versions')
  t.equal(new Set(infos.map((i) => i.etag)).size, versions.length, 'every version had its own ETag')
  t.same(await readdir(store.tempDir), [])
})

t.test('fs: temp files of a crashed writer are removed at start-up, live ones kept', async (t) => {
  const { root } = await openStore(t)
  const tmp = join(root, TEMP_DIR)
  await writeFile(join(tmp, 'crashed'), 'partial')
  const longAgo = new Date(Date.now() - 7 * 3600 * 1000)
  await utimes(join(tmp, 'crashed'), longAgo, longAgo)
  await writeFile(join(tmp, 'live'), 'partial')
  const reopened = await FsObjectStore.open({ root })
  t.same(await readdir(reopened.tempDir), ['live'])
})

t.test('fs: probe fails when the objects directory is gone', async (t) => {
  const { store, root } = await openStore(t)
  await t.resolves(store.probe())
  await rm(root, { recursive: true })
  await t.rejects(store.probe())
})
