import { createWriteStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { readObject } from '../../src/storage/read-object.js'
import { segmentName, videoKeys } from '../../src/db/documents.js'
import { probe } from '../../transcoder/probe.js'
import { importSourceCaptions, subtitleLanguage } from '../../transcoder/source-captions.js'
import { transcodeVideo } from '../../transcoder/transcode-video.js'
import { mediaDir, runFfmpeg } from '../helpers/media.js'
import { requireToolsForFile, toolPath } from '../helpers/requirements.js'
import { getVideo, transcoderFixture, uploadVideo, type TranscoderFixture } from './fixtures.js'

requireToolsForFile(t, 'ffmpeg', 'ffprobe')

const EN = '1\n00:00:00,500 --> 00:00:01,500\nHello, class.\n\n2\n00:00:02,000 --> 00:00:03,000\nToday: <i>limits</i>.\n'
const FR = '1\n00:00:00,500 --> 00:00:01,500\nBonjour à tous.\n\n2\n00:00:02,000 --> 00:00:03,000\nAujourd\'hui : les limites.\n'

async function importFrom (t: Parameters<typeof transcoderFixture>[0], fx: TranscoderFixture, path: string, extra: Array<{ index: number, codec: string, language: string | null, title: string | null }> = []) {
  const source = await probe(toolPath('ffprobe'), path)
  const { id } = await uploadVideo(fx, path)
  const result = await importSourceCaptions({
    ffmpegPath: toolPath('ffmpeg'), db: fx.db, storage: fx.storage, videoId: id, original: path,
    source: { subtitles: [...(source.subtitles ?? []), ...extra] }, log: fx.log, signal: new AbortController().signal
  })
  return { id, source, result, video: await getVideo(fx.db, id) }
}

/** A 4 s MKV with English (SubRip) and French subtitle streams, tagged eng and fre. */
async function twoLanguageMkv (t: Parameters<typeof mediaDir>[0], options: { frenchCodec: 'srt' | 'ass', englishTitle?: string }): Promise<string> {
  const dir = await mediaDir(t)
  await writeFile(join(dir, 'en.srt'), EN)
  await writeFile(join(dir, 'fr.srt'), FR)
  const mkv = join(dir, 'lecture.mkv')
  runFfmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=4', '-i', join(dir, 'en.srt'), '-i', join(dir, 'fr.srt'),
    '-map', '0:v', '-map', '1:s', '-map', '2:s', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:s:0', 'srt', '-c:s:1', options.frenchCodec,
    '-metadata:s:s:0', 'language=eng', ...(options.englishTitle !== undefined ? ['-metadata:s:s:0', `title=${options.englishTitle}`] : []), '-metadata:s:s:1', 'language=fre', mkv
  ])
  return mkv
}

const cueLines = (vtt: string) => vtt.split('\n').filter((l) => l.includes('-->') || /[a-z]/i.test(l)).filter((l) => l !== 'WEBVTT')

t.test('an MKV with English (SubRip) and French (ASS) subtitles: two caption tracks', async (t) => {
  const mkv = await twoLanguageMkv(t, { frenchCodec: 'ass', englishTitle: 'English (lecturer)' })
  const fx = await transcoderFixture(t)
  const { source, result, video } = await importFrom(t, fx, mkv, [{ index: 2, codec: 'hdmv_pgs_subtitle', language: 'deu', title: null }])
  t.same(source.subtitles?.map((s) => `${s.codec}:${s.language}`), ['subrip:eng', 'ass:fre'], 'the probe lists both streams')
  t.same(result.imported.map((i) => `${i.language}:${i.label}:${i.cues}`), ['en:English (lecturer):2', 'fr:Français:2'])
  t.same(result.skipped.map((s) => s.codec), ['hdmv_pgs_subtitle'], 'a bitmap stream is skipped')
  t.same(video.captions?.map((c) => `${c.language}:${c.label}`), ['en:English (lecturer)', 'fr:Français'])
  const en = (await readObject(fx.storage, video.captions!.find((c) => c.language === 'en')!.key)).toString('utf8')
  t.match(en, /^WEBVTT\n/)
  t.same(cueLines(en), ['00:00:00.500 --> 00:00:01.500', 'Hello, class.', '00:00:02.000 --> 00:00:03.000', 'Today: <i>limits</i>.'], 'the cues of the SRT, times and text')
  const fr = (await readObject(fx.storage, video.captions!.find((c) => c.language === 'fr')!.key)).toString('utf8')
  t.match(fr, /00:00:00\.500 --> 00:00:01\.500\nBonjour à tous\./)
  t.match(fr, /Aujourd'hui : les limites\./)

  // A second transcode of the same video keeps the tracks there are (an owner's upload included).
  const again = await importSourceCaptions({
    ffmpegPath: toolPath('ffmpeg'), db: fx.db, storage: fx.storage, videoId: video._id, original: mkv, source, log: fx.log, signal: new AbortController().signal
  })
  t.same(again.imported, [])
  t.same(again.skipped.map((s) => s.reason), ['the video already has captions in en', 'the video already has captions in fr'])
  t.same((await getVideo(fx.db, video._id)).captions?.map((c) => c.key), video.captions?.map((c) => c.key), 'the stored files are unchanged')
})

t.test('an MP4 with untagged mov_text subtitles: one "und" track', async (t) => {
  const dir = await mediaDir(t)
  await writeFile(join(dir, 'en.srt'), EN)
  const mp4 = join(dir, 'phone.mp4')
  runFfmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=4', '-i', join(dir, 'en.srt'),
    '-map', '0:v', '-map', '1:s', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:s', 'mov_text', mp4
  ])
  const fx = await transcoderFixture(t)
  const { source, result, video } = await importFrom(t, fx, mp4)
  t.same(source.subtitles?.map((s) => s.codec), ['mov_text'])
  t.same(result.imported.map((i) => `${i.language}:${i.label}:${i.cues}`), ['und:Unknown language:2'])
  const und = (await readObject(fx.storage, video.captions![0]!.key)).toString('utf8')
  t.match(und, /00:00:02\.000 --> 00:00:03\.000\n.*limits/)
})

t.test('language tags: ISO 639-2 to BCP 47', async (t) => {
  t.same(['eng', 'fre', 'fra', 'ger', 'deu', 'por', 'chi', 'pt-BR', 'und', null, 'x'].map((l) => subtitleLanguage(l)),
    ['en', 'fr', 'fr', 'de', 'de', 'pt', 'zh', 'pt-BR', 'und', 'und', 'und'])
})

/** Mean volume of a file's first audio stream, dB, by ffmpeg's volumedetect. */
function meanVolume (path: string): number {
  const r = spawnSync(toolPath('ffmpeg'), ['-hide_banner', '-nostdin', '-i', path, '-map', '0:a:0', '-af', 'volumedetect', '-f', 'null', '-'], { encoding: 'utf8' })
  const m = /mean_volume:\s*(-?[\d.]+|-inf) dB/.exec(r.stderr)
  if (m === null) throw new Error(r.stderr.slice(-500))
  return m[1] === '-inf' ? -Infinity : Number(m[1])
}

t.test('two audio tracks, the second marked default: the second is the one encoded', async (t) => {
  const dir = await mediaDir(t)
  const mkv = join(dir, 'dub.mkv')
  // Track 0 is silence, track 1 (default) a tone: the output's loudness tells which was kept.
  runFfmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=2',
    '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a', '-map', '2:a', '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac',
    '-metadata:s:a:0', 'language=eng', '-metadata:s:a:1', 'language=fre', '-disposition:a:0', '0', '-disposition:a:1', 'default', mkv
  ])
  const source = await probe(toolPath('ffprobe'), mkv)
  t.equal(source.audioStream, 1, 'the probe picks the default track')
  const fx = await transcoderFixture(t)
  const { id } = await uploadVideo(fx, mkv)
  const { version } = await transcodeVideo({ db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, signal: new AbortController().signal, tmpRoot: fx.tmpRoot }, id)
  const video = await getVideo(fx.db, id)
  const out = join(dir, 'out.ts')
  await pipeline(await fx.storage.get(videoKeys.segment(id, version, video.renditions[0]!.name, segmentName(0))), createWriteStream(out))
  const volume = meanVolume(out)
  t.ok(volume > -30, `the published audio is the tone of track 1 (mean ${volume} dB), not the silence of track 0`)
  t.ok(meanVolume(mkv) < -80, 'control: the first track of the source is silent')
})

t.test('through the whole transcode: the subtitle streams of an MKV are caption tracks of the ready video', async (t) => {
  const mkv = await twoLanguageMkv(t, { frenchCodec: 'srt' })
  const fx = await transcoderFixture(t)
  const { id } = await uploadVideo(fx, mkv)
  await transcodeVideo({ db: fx.db, storage: fx.storage, config: fx.config, log: fx.log, signal: new AbortController().signal, tmpRoot: fx.tmpRoot }, id)
  const video = await getVideo(fx.db, id)
  t.equal(video.status, 'ready')
  t.same(video.captions?.map((c) => c.language).sort(), ['en', 'fr'], 'both languages are caption tracks')
  const fr = (await readObject(fx.storage, video.captions!.find((c) => c.language === 'fr')!.key)).toString('utf8')
  t.match(fr, /00:00:00\.500 --> 00:00:01\.500\nBonjour à tous\./, 'with the source\'s cues')
})
