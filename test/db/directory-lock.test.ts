import t from 'tap'
import { readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { DirectoryLock, LOCK_FILE } from '../../src/db/directory-lock.js'
import { tempDir } from '../helpers/config.js'

const owner = (pid: number, host = hostname()) => JSON.stringify({ pid, host, since: '2024-01-01T00:00:00.000Z' })
const ago = (ms: number) => new Date(Date.now() - ms)

t.test('one holder at a time; released, it is free again', async (t) => {
  const dir = await tempDir(t)
  const lock = await DirectoryLock.acquire(dir)
  t.same(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')).pid, process.pid, 'the file names its holder')
  // Held by this very process counts as left behind (a restart in place), so a second
  // acquisition here succeeds; EmbeddedDatabase refuses same-process reuse on its own.
  await lock.release()
  await lock.release()
  const again = await DirectoryLock.acquire(dir)
  await again.release()
})

t.test('a fresh lock of a live process is refused with who holds it', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, LOCK_FILE), owner(process.ppid))
  await t.rejects(DirectoryLock.acquire(dir, { hint: 'Use MONGODB_URL.' }), new RegExp(`is in use by process ${process.ppid} \\(since 2024-01-01T00:00:00.000Z\\)\\. Use MONGODB_URL\\.$`))
  await writeFile(join(dir, LOCK_FILE), owner(4242, 'other-host'))
  await t.rejects(DirectoryLock.acquire(dir), /in use by process 4242 on other-host/, 'another host\'s pid cannot be checked: refused while fresh')
})

t.test('a lock is free when its holder on this host is gone, or it was not refreshed', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, LOCK_FILE)
  await writeFile(file, owner(2147483646))
  const a = await DirectoryLock.acquire(dir)
  await a.release()

  await writeFile(file, owner(4242, 'other-host'))
  await utimes(file, ago(60_000), ago(60_000))
  const b = await DirectoryLock.acquire(dir, { refreshMs: 10_000 })
  t.same(JSON.parse(await readFile(file, 'utf8')).host, hostname(), 'taken over after three missed refreshes')
  await b.release()

  await writeFile(file, 'half-written')
  await utimes(file, ago(60_000), ago(60_000))
  const c = await DirectoryLock.acquire(dir)
  await c.release()
})

t.test('the holder keeps its lock fresh', async (t) => {
  const dir = await tempDir(t)
  const lock = await DirectoryLock.acquire(dir, { refreshMs: 30 })
  const file = join(dir, LOCK_FILE)
  await utimes(file, ago(60_000), ago(60_000))
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.ok(Date.now() - (await stat(file)).mtimeMs < 5_000, 'the refresh moved the mtime forward')
  await lock.release()
  await utimes(file, ago(60_000), ago(60_000)).then(() => t.fail('released lock file still there'), () => t.pass('released: the file is gone'))
})
