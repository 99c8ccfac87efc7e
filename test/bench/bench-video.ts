import { createReadStream } from 'node:fs'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { videoKeys, type Rendition, type Video } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { VIDEOS } from '../../src/db/video-repository.js'

/**
 * Stores a public, ready video in an embedded-defaults data directory for a benchmark: one
 * segment per rendition (`segment-00000.ts` of each name in `segments`) and, when given, a
 * progressive file read from `progressivePath`. Returns the video's id and version.
 */
export async function writeBenchVideo (dataDir: string, segments: Record<string, Buffer>, progressivePath?: string): Promise<{ id: string, version: string }> {
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', WORKER: 'off' })
  const id = newId()
  const version = 'bench1'
  const setup = await buildApp(config, { logger: false })
  try {
    const rendition = (name: string): Rendition => ({ name, width: 1280, height: 720, frameRate: 30, bandwidth: 1, averageBandwidth: 1, codecs: 'avc1.64001f', segmentCount: 1 })
    for (const [name, bytes] of Object.entries(segments)) await setup.storage.put(videoKeys.segment(id, version, name, 'segment-00000.ts'), bytes)
    if (progressivePath !== undefined) await setup.storage.put(videoKeys.progressive(id, version), createReadStream(progressivePath))
    const now = new Date()
    const video: Video = {
      _id: id, owner: newId(), title: 'bench', description: '', tags: [], visibility: 'public', status: 'ready', progress: 1,
      etaSeconds: null, failureReason: null, duration: 1, source: null, renditions: Object.keys(segments).map(rendition),
      originalKey: videoKeys.original(id), originalSize: 0, originalName: null, version, posterKey: null,
      progressiveKey: progressivePath === undefined ? null : videoKeys.progressive(id, version), createdAt: now, updatedAt: now, views: 0
    }
    await setup.db.collection<Video>(VIDEOS).insertOne(video)
  } finally {
    await setup.close()
  }
  return { id, version }
}
