import { createHmac, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from './config.js'

/**
 * The server secret: JWT_SECRET when set (required when several API nodes share users), otherwise
 * generated once into DATA_DIR/jwt-secret (mode 0600) so restarts keep tokens valid.
 */
export async function loadSecret (config: Config): Promise<string> {
  if (config.jwtSecret !== undefined) return config.jwtSecret
  const file = join(config.dataDir, 'jwt-secret')
  try {
    const existing = (await readFile(file, 'utf8')).trim()
    if (existing.length >= 32) return existing
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(config.dataDir, { recursive: true })
  const secret = randomBytes(48).toString('base64url')
  // 'wx' so two processes starting at once on one DATA_DIR agree on the first one written.
  try {
    await writeFile(file, secret + '\n', { mode: 0o600, flag: 'wx' })
    return secret
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim()
    throw err
  }
}

/** A key for one purpose derived from the server secret, so JWTs and playback tokens never share a key. */
export function deriveKey (secret: string, purpose: string): Buffer {
  return createHmac('sha256', secret).update(`lectern:${purpose}`).digest()
}
