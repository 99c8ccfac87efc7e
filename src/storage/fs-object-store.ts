import { randomUUID } from 'node:crypto'
import { constants as fsConstants, type BigIntStats } from 'node:fs'
import { type FileHandle, access, lstat, mkdir, open, readdir, realpath, rename, rm, rmdir, stat, unlink } from 'node:fs/promises'
import { dirname, join, sep } from 'node:path'
import { Readable, addAbortSignal } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { ConflictError, InvalidKeyError, ObjectNotFoundError, RangeNotSatisfiableError } from '../errors.js'
import type { GetOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store.js'
import { assertValidKey, assertValidPrefix, compareKeys } from './object-key.js'
import { assertValidRange } from './assert-valid-range.js'

/** Writes in progress live here, on the same filesystem as the objects, so the final rename is atomic. */
export const TEMP_DIR = '.tmp'
/** A temp file untouched this long belongs to a writer that died; a live upload writes far more often. */
const STALE_TEMP_MS = 6 * 3600 * 1000
const READ_HIGH_WATER_MARK = 64 * 1024
/** Bounds the memory of directories already checked for symlinks out of the root. */
const MAX_CHECKED_DIRS = 10_000
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW
/** A concurrent delete may prune the parent directory between our mkdir and rename. */
const COMMIT_ATTEMPTS = 5

function errnoOf (err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code
}

/** Missing, or a path component that is a file: either way there is no object at the key. */
function isMissing (err: unknown): boolean {
  const code = errnoOf(err)
  return code === 'ENOENT' || code === 'ENOTDIR'
}

function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function abortError (signal: AbortSignal): Error {
  return Object.assign(new Error('The put was aborted; nothing was stored'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason })
}

async function writeFully (handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset)
    offset += bytesWritten
  }
}

let lastWriteMicros = 0
/**
 * A write time unique within this process, to the microsecond. Coarse kernel timestamps could
 * give two quick same-size writes the same mtime, and a reused inode the same ETag (ABA);
 * a unique mtime rules that out.
 */
function nextWriteTime (): number {
  const now = Date.now() * 1000
  lastWriteMicros = now > lastWriteMicros ? now : lastWriteMicros + 1
  return lastWriteMicros / 1e6
}

function infoFrom (key: string, st: BigIntStats): ObjectInfo {
  return {
    key,
    size: Number(st.size),
    // ino changes with every put (each is a new file renamed into place), size and mtime with content.
    etag: `"${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`,
    lastModified: new Date(Number(st.mtimeNs / 1_000_000n))
  }
}

export interface FsObjectStoreOptions {
  /** The objects directory (DATA_DIR/objects); created if missing. */
  root: string
  log?: FastifyBaseLogger
}

/**
 * Objects as files under one root directory, the key as the relative path. A put is written to
 * a temp file, fsynced, and renamed into place, so readers see the old object or the whole new
 * one, never a part. Nothing resolves outside the root, symlinks included.
 */
export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const
  /** The root's real path: every resolved path must lie under it. */
  readonly root: string
  readonly tempDir: string
  private readonly checkedDirs = new Set<string>()

  private constructor (root: string) {
    this.root = root
    this.tempDir = join(root, TEMP_DIR)
  }

  static async open ({ root, log }: FsObjectStoreOptions): Promise<FsObjectStore> {
    await mkdir(join(root, TEMP_DIR), { recursive: true })
    const store = new FsObjectStore(await realpath(root))
    const removed = await store.removeStaleTempFiles(STALE_TEMP_MS)
    if (removed > 0) log?.info({ removed, dir: store.tempDir }, 'removed temp files left by interrupted writes')
    return store
  }

  async put (key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<ObjectInfo> {
    const path = this.pathOf(key)
    const { signal } = options
    if (isAborted(signal)) throw abortError(signal!)
    const tmp = join(this.tempDir, randomUUID())
    const handle = await open(tmp, 'wx')
    let closed = false
    let committed = false
    // Destroying the source on abort also ends a read that is waiting on a stalled uploader.
    const onAbort = () => {
      if (!Buffer.isBuffer(body)) body.destroy(abortError(signal!))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      try {
        // for-await destroys the source when a write fails, so an upload stops being read.
        for await (const chunk of Buffer.isBuffer(body) ? [body] : body) {
          await writeFully(handle, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))
        }
      } catch (err) {
        if (isAborted(signal)) throw abortError(signal!)
        throw err
      }
      if (isAborted(signal)) throw abortError(signal!)
      const time = nextWriteTime()
      await handle.utimes(time, time)
      await handle.sync()
      const st = await handle.stat({ bigint: true })
      closed = true
      await handle.close()
      // The last moment an abort can still leave nothing behind.
      if (isAborted(signal)) throw abortError(signal!)
      await this.commit(tmp, path, key)
      committed = true
      return infoFrom(key, st)
    } finally {
      signal?.removeEventListener('abort', onAbort)
      if (!closed) await handle.close().catch(() => {})
      if (!committed) await rm(tmp, { force: true }).catch(() => {})
    }
  }

  async get (key: string, options: GetOptions = {}): Promise<Readable> {
    const path = this.pathOf(key)
    const { range, signal } = options
    if (range !== undefined) assertValidRange(range)
    signal?.throwIfAborted()
    const handle = await this.openForRead(key, path)
    try {
      // Size from the open file, not a path lookup: a concurrent put renames a new file into
      // place, but this descriptor keeps reading the version it opened.
      const st = await handle.stat()
      if (!st.isFile()) throw new ObjectNotFoundError(key)
      let start = 0
      let end = st.size - 1
      if (range !== undefined) {
        if (range.start >= st.size) {
          throw new RangeNotSatisfiableError(`Range ${range.start}-${range.end} starts at or past the end of "${key}" (${st.size} bytes)`)
        }
        start = range.start
        end = Math.min(range.end, st.size - 1)
      }
      if (end < start) {
        // An empty object read whole: createReadStream has no way to say "no bytes".
        await handle.close()
        return Readable.from([])
      }
      const stream = handle.createReadStream({ start, end, highWaterMark: READ_HIGH_WATER_MARK })
      if (signal !== undefined) addAbortSignal(signal, stream)
      return stream
    } catch (err) {
      await handle.close().catch(() => {})
      throw err
    }
  }

  async head (key: string): Promise<ObjectInfo> {
    const path = this.pathOf(key)
    let st
    try {
      await this.checkDir(dirname(path), key)
      st = await lstat(path, { bigint: true })
      if (st.isSymbolicLink()) st = await stat(await this.resolveExisting(key, path), { bigint: true })
    } catch (err) {
      if (isMissing(err) || errnoOf(err) === 'ELOOP') throw new ObjectNotFoundError(key)
      throw err
    }
    if (!st.isFile()) throw new ObjectNotFoundError(key)
    return infoFrom(key, st)
  }

  async delete (key: string): Promise<void> {
    const path = this.pathOf(key)
    await this.unlinkObject(path, key)
    await this.pruneEmptyDirs(dirname(path))
  }

  async deletePrefix (prefix: string): Promise<number> {
    const objects = await this.list(prefix)
    let deleted = 0
    const dirs = new Set<string>()
    for (const { key } of objects) {
      const path = join(this.root, key)
      if (await this.unlinkObject(path, key)) deleted++
      dirs.add(dirname(path))
    }
    // Deepest first, so a parent is tried only after its children had their chance to go.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await this.pruneEmptyDirs(dir)
    return deleted
  }

  async list (prefix: string): Promise<ObjectInfo[]> {
    assertValidPrefix(prefix)
    // Walk only the directory that holds the prefix's last (maybe partial) segment.
    const slash = prefix.lastIndexOf('/')
    const dirKey = slash === -1 ? '' : prefix.slice(0, slash)
    const start = dirKey === '' ? this.root : join(this.root, dirKey)
    let real
    try {
      real = await realpath(start)
    } catch (err) {
      if (isMissing(err)) return []
      throw err
    }
    // As in the walk below, a symlink out of the root leads to nothing of ours.
    if (!this.isInsideRoot(real)) return []
    const found: ObjectInfo[] = []
    await this.walk(start, dirKey, prefix, found)
    return found.sort((a, b) => compareKeys(a.key, b.key))
  }

  async probe (): Promise<void> {
    await access(this.tempDir, fsConstants.W_OK)
  }

  async close (): Promise<void> {}

  /** Removes temp files not written to for maxAgeMs; returns how many. */
  async removeStaleTempFiles (maxAgeMs: number): Promise<number> {
    let removed = 0
    const cutoff = Date.now() - maxAgeMs
    for (const name of await readdir(this.tempDir)) {
      const path = join(this.tempDir, name)
      try {
        const st = await lstat(path)
        if (st.mtimeMs < cutoff) {
          await rm(path, { recursive: true, force: true })
          removed++
        }
      } catch (err) {
        if (!isMissing(err)) throw err
      }
    }
    return removed
  }

  private pathOf (key: string): string {
    assertValidKey(key)
    if (key === TEMP_DIR || key.startsWith(TEMP_DIR + '/')) {
      throw new InvalidKeyError(key, `the first segment "${TEMP_DIR}" is reserved for writes in progress`)
    }
    return join(this.root, key)
  }

  private isInsideRoot (real: string): boolean {
    return real === this.root || real.startsWith(this.root + sep)
  }

  private assertInsideRoot (real: string, key: string): void {
    if (!this.isInsideRoot(real)) {
      throw new InvalidKeyError(key, 'it resolves outside the storage root (through a symbolic link)')
    }
  }

  /**
   * Throws InvalidKeyError if a symlink on the way to dir leads out of the root. Directories
   * that passed are remembered: the store itself never creates symlinks, so only someone who can
   * already write under the root could swap one in, and a realpath on every read would cost more
   * than the read of a small range.
   */
  private async checkDir (dir: string, key: string): Promise<void> {
    if (dir === this.root || this.checkedDirs.has(dir)) return
    this.assertInsideRoot(await realpath(dir), key)
    if (this.checkedDirs.size >= MAX_CHECKED_DIRS) this.checkedDirs.clear()
    this.checkedDirs.add(dir)
  }

  private async openForRead (key: string, path: string): Promise<FileHandle> {
    try {
      await this.checkDir(dirname(path), key)
      // O_NOFOLLOW: a symlink as the last component is resolved and checked below, not followed here.
      return await open(path, READ_FLAGS)
    } catch (err) {
      if (errnoOf(err) !== 'ELOOP') {
        if (isMissing(err)) throw new ObjectNotFoundError(key)
        throw err
      }
    }
    const real = await this.resolveExisting(key, path)
    try {
      return await open(real, READ_FLAGS)
    } catch (err) {
      if (isMissing(err) || errnoOf(err) === 'ELOOP') throw new ObjectNotFoundError(key)
      throw err
    }
  }

  /** The real path of an existing key, or ObjectNotFoundError. */
  private async resolveExisting (key: string, path: string): Promise<string> {
    let real
    try {
      real = await realpath(path)
    } catch (err) {
      if (isMissing(err) || errnoOf(err) === 'ELOOP') throw new ObjectNotFoundError(key)
      throw err
    }
    this.assertInsideRoot(real, key)
    return real
  }

  private async commit (tmp: string, path: string, key: string): Promise<void> {
    const dir = dirname(path)
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true })
        // A symlinked directory on the way would carry the file out of the root.
        await this.checkDir(dir, key)
        await rename(tmp, path)
        break
      } catch (err) {
        const code = errnoOf(err)
        if (code === 'ENOENT' && attempt < COMMIT_ATTEMPTS) continue
        if (code === 'ENOTDIR' || code === 'EEXIST') {
          throw new ConflictError(`Cannot store "${key}": a leading part of the key is already an object, and on disk an object cannot also be a directory`)
        }
        if (code === 'EISDIR') {
          throw new ConflictError(`Cannot store "${key}": other objects are stored under "${key}/", and on disk an object cannot also be a directory`)
        }
        throw err
      }
    }
    // The rename is durable only once the directory entry is.
    const dirHandle = await open(dir, 'r')
    try {
      await dirHandle.sync()
    } finally {
      await dirHandle.close()
    }
  }

  /** Unlinks the object at path; false if there was none. */
  private async unlinkObject (path: string, key: string): Promise<boolean> {
    try {
      await this.checkDir(dirname(path), key)
      const st = await lstat(path)
      // A symlink is unlinked itself, never its target.
      if (!st.isFile() && !st.isSymbolicLink()) return false
      await unlink(path)
      return true
    } catch (err) {
      // Missing, or outside the root: either way there is no object of ours to delete.
      if (isMissing(err) || errnoOf(err) === 'ELOOP' || err instanceof InvalidKeyError) return false
      throw err
    }
  }

  /** Removes dir and its parents while they are empty, never the root itself. */
  private async pruneEmptyDirs (dir: string): Promise<void> {
    while (dir.startsWith(this.root + sep) && dir !== this.tempDir) {
      try {
        await rmdir(dir)
        this.checkedDirs.delete(dir)
      } catch {
        // Not empty (or already gone, or a concurrent put just created it): stop here.
        return
      }
      dir = dirname(dir)
    }
  }

  private async walk (dir: string, dirKey: string, prefix: string, found: ObjectInfo[]): Promise<void> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if (isMissing(err)) return
      throw err
    }
    const files: string[] = []
    for (const entry of entries) {
      if (dirKey === '' && entry.name === TEMP_DIR) continue
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`
      if (!key.startsWith(prefix)) continue
      // Symlinks are never followed: they could loop, or lead out of the root.
      if (entry.isDirectory()) await this.walk(join(dir, entry.name), key, prefix, found)
      else if (entry.isFile()) files.push(key)
    }
    const infos = await Promise.all(files.map(async (key) => {
      try {
        return infoFrom(key, await lstat(join(this.root, key), { bigint: true }))
      } catch (err) {
        // Deleted since readdir: it is simply not there any more.
        if (isMissing(err)) return undefined
        throw err
      }
    }))
    for (const info of infos) if (info !== undefined) found.push(info)
  }
}
