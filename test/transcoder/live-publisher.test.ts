import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { videoKeys, type Video } from '../../src/db/documents.js'
import { newVideoDocument } from '../../src/db/video-repository.js'
import { newId } from '../../src/db/new-id.js'
import { readObject } from '../../src/storage/read-object.js'
import type { ObjectStore } from '../../src/storage/object-store.js'
import { LivePublisher } from '../../transcoder/live-publisher.js'
import type { PlannedRung } from '../../transcoder/plan-ladder.js'
import { tempDir } from '../helpers/config.js'
import { getVideo, silentLog, transcoderFixture } from './fixtures.js'

// The publisher's bookkeeping without ffmpeg: EVENT playlists and segment files written by hand
// where ffmpeg would write them, one tick at a time.

const rung = (name: string, height: number): PlannedRung => ({
  name, width: Math.round(height * 16 / 9), height, frameRate: 30, videoBitrate: height * 2000, bufferSize: height * 4000, audioBitrate: 96_000, profile: 'high', level: '3.1'
})

function eventPlaylist (segments: number): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:4', '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:EVENT']
  for (let i = 0; i < segments; i++) lines.push('#EXTINF:4.000000,', `segment-${String(i).padStart(5, '0')}.ts`)
  return lines.join('\n') + '\n'
}

t.test('a rung\'s playlist is stored again only when that rung gained segments', async (t) => {
  const fx = await transcoderFixture(t)
  const out = await tempDir(t, 'lectern-live-publisher-')
  const ladder = [rung('360p', 360), rung('720p', 720)]
  const id = newId()
  await fx.db.collection<Video>('videos').insertOne(newVideoDocument({
    id, owner: 'u1', title: 'live', description: '', tags: [], visibility: 'public', originalSize: 1, originalName: 'live.mp4'
  }))
  const puts: string[] = []
  const storage: ObjectStore = Object.create(fx.storage, {
    put: { value: async (...args: Parameters<ObjectStore['put']>) => { puts.push(args[0]); return await fx.storage.put(...args) } }
  })
  const publisher = new LivePublisher({
    storage, videos: fx.db.collection<Video>('videos'), videoId: id, version: 'v1', ladder, outputDir: out, segmentSeconds: 4, hasAudio: true,
    codecsOf: async () => 'avc1.64001f,mp4a.40.2', previous: null, posterKey: null, log: silentLog, signal: new AbortController().signal
  })
  const write = async (name: string, segments: number): Promise<void> => {
    await mkdir(join(out, name), { recursive: true })
    for (let i = 0; i < segments; i++) await writeFile(join(out, name, `segment-${String(i).padStart(5, '0')}.ts`), Buffer.alloc(1000 + i * 10, i))
    await writeFile(join(out, name, 'index.m3u8'), eventPlaylist(segments))
  }
  const playlistPuts = (name: string): number => puts.filter((k) => k === videoKeys.mediaPlaylist(id, 'v1', name)).length
  const listedIn = async (name: string): Promise<number> =>
    (await readObject(fx.storage, videoKeys.mediaPlaylist(id, 'v1', name))).toString('utf8').split('\n').filter((l) => l.startsWith('segment-')).length

  await write('360p', 1)
  await publisher.tick()
  t.equal((await getVideo(fx.db, id)).playable, undefined, 'not playable while a rung has no segment')
  t.equal(playlistPuts('360p'), 0)

  await write('720p', 1)
  await publisher.tick()
  t.equal((await getVideo(fx.db, id)).playable, true, 'playable once every rung has a segment')
  t.same([playlistPuts('360p'), playlistPuts('720p')], [1, 1])

  await write('360p', 3)
  await publisher.tick()
  t.same([playlistPuts('360p'), playlistPuts('720p')], [2, 1], 'only the rung that gained segments is stored again')
  t.same([await listedIn('360p'), await listedIn('720p')], [3, 1])

  await publisher.tick()
  t.same([playlistPuts('360p'), playlistPuts('720p')], [2, 1], 'a tick with nothing new stores nothing')

  await write('720p', 3)
  await publisher.tick()
  t.same([playlistPuts('360p'), playlistPuts('720p')], [2, 2])
  t.same([await listedIn('360p'), await listedIn('720p')], [3, 3])
  t.equal((await getVideo(fx.db, id)).publishedSeconds, 12, 'three 4 s segments in every rung')
  for (const name of ['360p', '720p']) {
    for (let i = 0; i < 3; i++) {
      t.ok(puts.indexOf(videoKeys.segment(id, 'v1', name, `segment-${String(i).padStart(5, '0')}.ts`)) < puts.lastIndexOf(videoKeys.mediaPlaylist(id, 'v1', name)), `${name} segment ${i} is stored before the playlist that lists it`)
    }
  }
})
