import type { Readable } from 'node:stream'
import type { ObjectStore } from './object-store.js'

/** A whole stored object, as one Buffer: for small objects (caption files, playlists, first segments). */
export async function readObject (storage: ObjectStore, key: string): Promise<Buffer> {
  const body: Readable = await storage.get(key)
  const pieces: Buffer[] = []
  for await (const piece of body) pieces.push(piece as Buffer)
  return Buffer.concat(pieces)
}
