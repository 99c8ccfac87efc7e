// Runs Lectern inside the server namespace of a bottleneck for test/net/adaptive-bottleneck.test.ts:
// builds the app on embedded defaults in DATA_DIR, publishes the ladder found in LADDER_DIR (made by
// the test: <rung>/index.m3u8 and segments, plus rungs.json), listens on HOST:PORT and prints
// `ready <video id>`. Stops on SIGTERM.
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { Rendition, Video } from '../../src/db/documents.js'
import { SEGMENT_NAME, videoKeys } from '../../src/db/documents.js'
import { newId } from '../../src/db/new-id.js'
import { VIDEOS } from '../../src/db/video-repository.js'

const ladderDir = process.env.LADDER_DIR!
const config = loadConfig(process.env)
const app = await buildApp(config, { logger: { level: 'warn' } })
const rungs = JSON.parse(await readFile(join(ladderDir, 'rungs.json'), 'utf8')) as Array<{ name: string, width: number, height: number, bitrate: number }>
const id = newId()
const version = 'v1'
const master = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS']
const renditions: Rendition[] = []
let duration = 0
for (const rung of rungs) {
  const names = (await readdir(join(ladderDir, rung.name))).sort()
  let peak = 0
  let total = 0
  let seconds = 0
  const playlist = await readFile(join(ladderDir, rung.name, 'index.m3u8'), 'utf8')
  const durations = [...playlist.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]))
  let i = 0
  for (const name of names) {
    const body = await readFile(join(ladderDir, rung.name, name))
    await app.storage.put(videoKeys.versionPrefix(id, version) + `${rung.name}/${name}`, body)
    if (!SEGMENT_NAME.test(name)) continue
    const d = durations[i++]!
    peak = Math.max(peak, body.byteLength * 8 / d)
    total += body.byteLength
    seconds += d
  }
  duration = seconds
  renditions.push({ name: rung.name, width: rung.width, height: rung.height, frameRate: 25, bandwidth: Math.ceil(peak), averageBandwidth: Math.ceil(total * 8 / seconds), codecs: 'avc1.42c01e', segmentCount: i })
  master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${Math.ceil(peak)},RESOLUTION=${rung.width}x${rung.height}`, `${rung.name}/index.m3u8`)
}
await app.storage.put(videoKeys.master(id, version), Buffer.from(master.join('\n') + '\n'))
const now = new Date()
const video: Video = {
  _id: id, owner: newId(), title: 'Bottleneck lecture', description: '', tags: [], visibility: 'public', status: 'ready', progress: 1, etaSeconds: null,
  failureReason: null, duration, source: null, renditions, originalKey: videoKeys.original(id), originalSize: 0, originalName: null, version,
  posterKey: null, progressiveKey: null, createdAt: now, updatedAt: now, views: 0
}
await app.db.collection<Video>(VIDEOS).insertOne(video)
await app.listen({ host: config.host, port: config.port })
process.stdout.write(`ready ${id} ${JSON.stringify(renditions.map((r) => [r.name, r.bandwidth, r.averageBandwidth]))}\n`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
