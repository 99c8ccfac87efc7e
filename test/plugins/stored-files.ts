import { readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'

/** Every file under DATA_DIR/objects, temp files included: what a failed upload must not leave. */
export async function storedFiles (dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'objects')
  const out: string[] = []
  async function walk (dir: string): Promise<void> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(dir, e.name))
      else out.push(relative(root, join(dir, e.name)))
    }
  }
  await walk(root)
  return out.sort()
}
