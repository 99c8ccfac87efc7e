import type { Database } from '../src/db/collection.js'
import type { SourceInfo, SourceSubtitle, Video } from '../src/db/documents.js'
import { VIDEOS } from '../src/db/video-repository.js'
import type { ObjectStore } from '../src/storage/object-store.js'
import { CAPTION_MAX_BYTES } from '../src/captions/caption-files.js'
import { setCaptionTrack } from '../src/captions/caption-repository.js'
import { canonicalLanguage, languageLabel } from '../src/captions/language-tag.js'
import { CaptionFormatError, parseCaptions } from '../src/captions/parse-captions.js'
import { storeCaptionTrack } from '../src/captions/store-caption-track.js'
import { fileUrl, safeInputArgs } from './probe.js'
import { runProcess, type TranscodeLog } from './run-process.js'

/** Subtitle codecs that are text, which ffmpeg converts to WebVTT; the rest (dvd_subtitle, hdmv_pgs_subtitle, dvb_subtitle) are pictures. */
export const TEXT_SUBTITLE_CODECS: ReadonlySet<string> = new Set(['subrip', 'srt', 'ass', 'ssa', 'mov_text', 'webvtt', 'text'])

/** The language a stream is tagged with ("eng", "fre", "pt-BR") as a canonical BCP 47 tag; "und" when untagged or unreadable. Pure. */
export function subtitleLanguage (tag: string | null): string {
  if (tag === null) return 'und'
  // Intl maps ISO 639-2 codes (B and T forms) to ISO 639-1 where one exists: eng -> en, ger -> de.
  return canonicalLanguage(tag) ?? 'und'
}

/** What the player's menu shows: the stream's title, else the language's own name. Pure. */
export function subtitleLabel (stream: Pick<SourceSubtitle, 'title'>, language: string): string {
  const title = stream.title?.replace(/\s+/g, ' ').trim() ?? ''
  if (title !== '' && title.length <= 100) return title
  // Intl names "und" "root", which no viewer would recognise.
  return language === 'und' ? 'Unknown language' : languageLabel(language)
}

export interface ImportSourceCaptionsInput {
  ffmpegPath: string
  db: Database
  storage: ObjectStore
  videoId: string
  /** the original, a local file */
  original: string
  source: Pick<SourceInfo, 'subtitles'>
  log: TranscodeLog
  signal: AbortSignal
}

export interface SourceCaptionsResult {
  imported: Array<{ stream: number, language: string, label: string, cues: number }>
  skipped: Array<{ stream: number, codec: string, reason: string }>
}

/**
 * Makes caption tracks of the original's text subtitle streams: each is converted to WebVTT by
 * ffmpeg (the same input whitelists as the probe), validated by the caption parser uploads go
 * through, and stored the way an upload is (storeCaptionTrack). One track per language: the
 * first stream of a language wins, and a language the video already has captions in (uploaded
 * by its owner, or imported by an earlier transcode) is left alone. Untagged streams become "und".
 * Bitmap subtitles are skipped. Never throws for a stream it cannot use; only an abort stops it.
 */
export async function importSourceCaptions (input: ImportSourceCaptionsInput): Promise<SourceCaptionsResult> {
  const { db, storage, videoId, log, signal } = input
  const result: SourceCaptionsResult = { imported: [], skipped: [] }
  const streams = input.source.subtitles ?? []
  if (streams.length === 0) return result
  const video = await db.collection<Video>(VIDEOS).findOne({ _id: videoId })
  if (video === null) return result
  const taken = new Set((video.captions ?? []).map((c) => c.language))
  const skip = (s: SourceSubtitle, reason: string) => {
    result.skipped.push({ stream: s.index, codec: s.codec, reason })
    log.info({ videoId, stream: s.index, codec: s.codec, language: s.language, reason }, 'source subtitles skipped')
  }

  for (const stream of streams) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted')
    if (!TEXT_SUBTITLE_CODECS.has(stream.codec)) {
      skip(stream, `${stream.codec} subtitles are pictures, not text`)
      continue
    }
    const language = subtitleLanguage(stream.language)
    if (taken.has(language)) {
      skip(stream, `the video already has captions in ${language}`)
      continue
    }
    let bytes: Buffer
    try {
      const out = await runProcess(input.ffmpegPath, [
        '-hide_banner', '-nostdin', '-v', 'error',
        ...safeInputArgs(), '-i', fileUrl(input.original),
        '-map', `0:s:${stream.index}`, '-c:s', 'webvtt', '-f', 'webvtt', 'pipe:1'
      ], { timeoutMs: 120_000, captureStdout: true, signal, log })
      bytes = Buffer.from(out.stdout, 'utf8')
    } catch (err) {
      if (signal.aborted) throw err
      skip(stream, `ffmpeg could not convert it to WebVTT: ${(err as Error).message.slice(0, 200)}`)
      continue
    }
    if (bytes.length > CAPTION_MAX_BYTES) {
      skip(stream, `larger than the caption limit of ${CAPTION_MAX_BYTES / 1024 / 1024} MB as WebVTT`)
      continue
    }
    let captions
    try {
      captions = parseCaptions(bytes)
    } catch (err) {
      if (!(err instanceof CaptionFormatError)) throw err
      skip(stream, `not usable as captions: ${err.message}`)
      continue
    }
    const label = subtitleLabel(stream, language)
    const change = await storeCaptionTrack(db, storage, videoId, language, label, captions)
    if (change === null) return result
    if (change.previous !== undefined) {
      // Its owner uploaded captions in this language meanwhile: theirs stay.
      await setCaptionTrack(db, videoId, language, change.previous)
      const ours = change.video.captions?.find((c) => c.language === language)
      if (ours !== undefined) await storage.delete(ours.key).catch(() => {})
      skip(stream, `the video got captions in ${language} while these were imported`)
      continue
    }
    taken.add(language)
    result.imported.push({ stream: stream.index, language, label, cues: captions.cues.length })
    log.info({ videoId, stream: stream.index, codec: stream.codec, language, label, cues: captions.cues.length }, 'source subtitles stored as captions')
  }
  return result
}
