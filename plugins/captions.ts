import fp from 'fastify-plugin'
import multipart from '@fastify/multipart'
import { z } from 'zod'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { CaptionTrack, Video } from '../src/db/documents.js'
import { segmentName, videoKeys } from '../src/db/documents.js'
import { ID_PATTERN } from '../src/db/new-id.js'
import { canEdit, canView, findVideo } from '../src/db/video-repository.js'
import { BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError, UnsupportedMediaError, isObjectNotFound } from '../src/errors.js'
import { errorSchema } from '../src/api/error-schema.js'
import { deriveKey } from '../src/secrets.js'
import { MediaAccess, tokenOf } from '../src/delivery/media-access.js'
import { rewritePlaylist } from '../src/delivery/rewrite-playlist.js'
import { PLAYLIST, PLAYLIST_PRIVATE } from '../src/delivery/served-object.js'
import { CaptionFormatError, parseCaptions, type ParsedCaptions } from '../src/captions/parse-captions.js'
import { canonicalLanguage, languageLabel } from '../src/captions/language-tag.js'
import { CAPTION_MAX_BYTES, ParsedCaptionCache, captionRevision } from '../src/captions/caption-files.js'
import { readObject } from '../src/storage/read-object.js'
import { setCaptionTrack } from '../src/captions/caption-repository.js'
import { storeCaptionTrack } from '../src/captions/store-caption-track.js'
import { SUBTITLE_SEGMENT_NAME, subtitlePlaylist, subtitleSegment, subtitleSegmentCount } from '../src/captions/subtitle-playlist.js'
import { firstPts } from '../src/captions/first-pts.js'
import { matchCues } from '../src/search/find-moments.js'
import { currentUser } from './auth.js'

const idParams = z.object({ id: z.string().regex(ID_PATTERN, 'must be a video id (20 hexadecimal characters)') })
const languageParams = idParams.extend({ language: z.string().max(40) })

const trackSchema = z.object({
  language: z.string().describe('BCP 47 tag'),
  label: z.string(),
  url: z.string().describe('the WebVTT file (add ?token= for an unlisted or private video)'),
  cues: z.number(),
  updatedAt: z.string()
})

const transcriptSchema = z.object({
  language: z.string(),
  label: z.string(),
  languages: z.array(z.object({ language: z.string(), label: z.string() })),
  q: z.string().nullable(),
  cues: z.array(z.object({
    start: z.number(),
    end: z.number(),
    text: z.string().describe('plain text'),
    marked: z.string().nullable().describe('with q: the text as HTML (escaped) with the matched words in <mark>')
  }))
})

const VTT = 'text/vtt; charset=utf-8'
const MPEGURL = 'application/vnd.apple.mpegurl'

/** Multipart errors as a client can fix them. */
function translateMultipartError (err: unknown): unknown {
  const code = (err as { code?: string }).code
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new PayloadTooLargeError(`file: is larger than the caption limit of ${CAPTION_MAX_BYTES / 1024 / 1024} MB`)
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT' || code === 'FST_FILES_LIMIT') return new BadRequestError('body: has too many parts; send one file and the fields language and label')
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') return new UnsupportedMediaError('send the caption file as multipart/form-data in a part named "file"')
  return err
}

/**
 * Captions: upload (WebVTT or SRT, stored as WebVTT), list and delete per language; each track
 * as a WebVTT file and as HLS subtitles (segmented WebVTT); the transcript of one video, searchable.
 */
export default fp(async function captionsPlugin (fastify) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const access = new MediaAccess(app.db, deriveKey(app.secret, 'playback'), 1000, async (request, reply) => {
    await app.authenticateOptional(request, reply)
    return currentUser(request)
  })
  const parsed = new ParsedCaptionCache()
  /** First PTS of each published version (90 kHz), for X-TIMESTAMP-MAP. */
  const startPts = new Map<string, Promise<number>>()

  const readTrack = (track: CaptionTrack): Promise<ParsedCaptions> =>
    parsed.get(track.key, () => app.cache.readThrough(track.key, () => readObject(app.storage, track.key)))

  const trackView = async (video: Video, track: CaptionTrack): Promise<z.infer<typeof trackSchema>> => ({
    language: track.language,
    label: track.label,
    url: `/captions/${video._id}/${encodeURIComponent(track.language)}.vtt`,
    cues: (await readTrack(track)).cues.length,
    updatedAt: new Date(track.updatedAt).toISOString()
  })

  function findTrack (video: Video, language: string): CaptionTrack {
    const track = (video.captions ?? []).find((c) => c.language === (canonicalLanguage(language) ?? language))
    if (track === undefined) {
      const has = (video.captions ?? []).map((c) => c.language)
      throw new NotFoundError(`Video ${video._id} has no captions in "${language}"; it has ${has.length === 0 ? 'none' : has.join(', ')}`)
    }
    return track
  }

  /** The video for a JSON read: anyone who may see its page (owner or admin for a private one), or a playback token's holder. */
  async function loadReadable (request: FastifyRequest, reply: FastifyReply, id: string): Promise<Video> {
    const video = await findVideo(app.db, id)
    if (video !== null && canView(video, currentUser(request))) return video
    if (tokenOf(request) !== undefined) return (await access.check(request, reply, id)).video
    throw new NotFoundError(`No video ${id}`)
  }

  async function loadEditable (request: FastifyRequest, id: string): Promise<Video> {
    const video = await findVideo(app.db, id)
    const user = currentUser(request)
    if (video === null || !canView(video, user)) throw new NotFoundError(`No video ${id}`)
    if (!canEdit(video, user)) throw new ForbiddenError(`only the owner of video ${id} or an admin may change its captions`)
    return video
  }

  await app.register(async function captionRoutes (child) {
    const routes = child.withTypeProvider<ZodTypeProvider>()
    await routes.register(multipart, { limits: { fileSize: CAPTION_MAX_BYTES, files: 1, fields: 4, parts: 6, fieldSize: 1024 } })

    routes.post('/api/videos/:id/captions', {
      preHandler: app.authenticate,
      schema: {
        tags: ['captions'],
        summary: 'Add or replace the captions of one language (owner or admin; multipart: file, language, label)',
        description: `file: WebVTT or SRT (converted to WebVTT), UTF-8 with or without a BOM, at most ${CAPTION_MAX_BYTES / 1024 / 1024} MB. ` +
          'language: a BCP 47 tag such as en or pt-BR; a language that already has captions is replaced. label: what the player shows (default: the language\'s name). ' +
          'A malformed file is refused with a 400 naming the line.',
        consumes: ['multipart/form-data'],
        security: [{ bearerAuth: [] }],
        params: idParams,
        response: { 200: trackSchema, 201: trackSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 413: errorSchema, 415: errorSchema }
      }
    }, async (request, reply) => {
      const { id } = request.params
      if (!request.isMultipart()) throw new UnsupportedMediaError('send the caption file as multipart/form-data in a part named "file", with a "language" field')
      const declared = Number(request.headers['content-length'])
      if (Number.isFinite(declared) && declared > CAPTION_MAX_BYTES + 64 * 1024) {
        reply.header('connection', 'close')
        throw new PayloadTooLargeError(`file: is larger than the caption limit of ${CAPTION_MAX_BYTES / 1024 / 1024} MB`)
      }
      await loadEditable(request, id)
      let file: Buffer | undefined
      const fields: Record<string, string> = {}
      try {
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file') throw new BadRequestError(`${part.fieldname}: is a file, but the captions go in a part named "file"`)
            file = await part.toBuffer()
          } else {
            if (part.fieldname !== 'language' && part.fieldname !== 'label') throw new BadRequestError(`${part.fieldname}: is not a field of a caption upload; send file, language and label`)
            if (fields[part.fieldname] !== undefined) throw new BadRequestError(`${part.fieldname}: was sent twice; send it once`)
            fields[part.fieldname] = String(part.value)
          }
        }
      } catch (err) {
        reply.header('connection', 'close')
        throw translateMultipartError(err)
      }
      if (file === undefined) throw new BadRequestError('file: is missing; send the WebVTT or SRT file in a multipart part named "file"')
      const given = (fields.language ?? '').trim()
      if (given === '') throw new BadRequestError('language: is missing; send the captions\' language as a BCP 47 tag such as en or pt-BR')
      const language = canonicalLanguage(given)
      if (language === undefined) throw new BadRequestError(`language: "${given.slice(0, 40)}" is not a BCP 47 language tag (such as en, fr-CA or pt-BR)`)
      const label = (fields.label ?? '').trim().replace(/\s+/g, ' ') || languageLabel(language)
      if (label.length > 100) throw new BadRequestError('label: must be at most 100 characters')
      let captions: ParsedCaptions
      try {
        captions = parseCaptions(file)
      } catch (err) {
        if (err instanceof CaptionFormatError) throw new BadRequestError(`file: ${err.message}`)
        throw err
      }
      // A new key for every upload: the switch to it is the document update, so a reader sees the old file or the new one, never a mix.
      const change = await storeCaptionTrack(app.db, app.storage, id, language, label, captions)
      if (change === null) throw new NotFoundError(`No video ${id}`)
      if (change.previous !== undefined) await removeFile(change.previous.key, request)
      await app.searchIndex.refresh(id)
      request.log.info({ videoId: id, language, cues: captions.cues.length, format: captions.format, replaced: change.previous !== undefined }, 'captions stored')
      const track = change.video.captions!.find((c) => c.language === language)!
      reply.code(change.previous === undefined ? 201 : 200)
        .header('location', `/captions/${id}/${encodeURIComponent(language)}.vtt`)
        .header('cache-control', 'no-store')
      return await trackView(change.video, track)
    })
  })

  async function removeFile (key: string, request: FastifyRequest): Promise<void> {
    await app.storage.delete(key).catch((err: unknown) => request.log.warn({ err, key }, 'could not delete a replaced caption file'))
    await app.cache.delete(key).catch(() => {})
  }

  app.get('/api/videos/:id/captions', {
    preHandler: app.authenticateOptional,
    schema: {
      tags: ['captions'],
      summary: 'The caption tracks of a video',
      params: idParams,
      response: { 200: z.object({ items: z.array(trackSchema) }), 400: errorSchema, 401: errorSchema, 404: errorSchema }
    }
  }, async (request, reply) => {
    const video = await loadReadable(request, reply, request.params.id)
    reply.header('cache-control', 'private, no-store')
    return { items: await Promise.all((video.captions ?? []).map((t) => trackView(video, t))) }
  })

  app.delete('/api/videos/:id/captions/:language', {
    preHandler: app.authenticate,
    schema: {
      tags: ['captions'],
      summary: 'Delete the captions of one language (owner or admin)',
      security: [{ bearerAuth: [] }],
      params: languageParams,
      response: { 204: z.null().describe('deleted'), 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const video = await loadEditable(request, id)
    const track = findTrack(video, request.params.language)
    const change = await setCaptionTrack(app.db, id, track.language, null)
    if (change === null) throw new NotFoundError(`No video ${id}`)
    if (change.previous === undefined) findTrack(change.video, track.language)
    else await removeFile(change.previous.key, request)
    await app.searchIndex.refresh(id)
    reply.code(204)
    return null
  })

  app.get('/api/videos/:id/transcript', {
    preHandler: app.authenticateOptional,
    schema: {
      tags: ['captions'],
      summary: 'A video\'s captions as text; with q, the cues that say its words, in time order',
      description: 'Folded for case and accents like /api/search; the last word also matches as a prefix unless q ends with a space.',
      params: idParams,
      querystring: z.object({
        q: z.string().max(200, 'must be at most 200 characters').optional(),
        language: z.string().max(40).optional().describe('default: the first track'),
        token: z.string().max(500).optional().describe('playback token, for an unlisted or private video')
      }),
      response: { 200: transcriptSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const video = await loadReadable(request, reply, id)
    const tracks = video.captions ?? []
    if (tracks.length === 0) throw new NotFoundError(`Video ${id} has no captions`)
    const track = request.query.language === undefined ? tracks[0]! : findTrack(video, request.query.language)
    const { cues } = await readTrack(track)
    const q = request.query.q?.trim() === '' ? undefined : request.query.q
    const plain = cues.map((c) => ({ start: c.start, end: c.end, text: c.plain }))
    reply.header('cache-control', 'private, no-store')
    return {
      language: track.language,
      label: track.label,
      languages: tracks.map((t) => ({ language: t.language, label: t.label })),
      q: q ?? null,
      cues: q === undefined
        ? plain.map((c) => ({ ...c, marked: null }))
        : matchCues(plain, q).map(({ cue, marked }) => ({ ...cue, marked }))
    }
  })

  /** The caption file of one language, with the same access rules as the video's media. */
  app.get('/captions/:id/:file', async (request, reply) => {
    const { id, file } = request.params as { id: string, file: string }
    if (!file.endsWith('.vtt')) throw new NotFoundError(`Caption files are named <language>.vtt, such as /captions/${id}/en.vtt`)
    const a = await access.check(request, reply, id)
    let video = a.video
    let track = findTrack(video, decodeURIComponent(file.slice(0, -4)))
    let body: Buffer
    try {
      body = await app.cache.readThrough(track.key, () => readObject(app.storage, track.key))
    } catch (err) {
      // Replaced a moment ago: the document this node remembered names the old file.
      if (!isObjectNotFound(err)) throw err
      const fresh = await findVideo(app.db, id)
      if (fresh === null) throw new NotFoundError(`No video ${id}`)
      video = fresh
      track = findTrack(video, track.language)
      body = await app.cache.readThrough(track.key, () => readObject(app.storage, track.key))
    }
    const etag = `"${captionRevision(track.key)}"`
    reply.header('etag', etag)
      .header('cache-control', a.shared ? PLAYLIST : PLAYLIST_PRIVATE)
      .header('access-control-allow-origin', '*')
      .header('content-type', VTT)
    if (request.headers['if-none-match'] === etag) return await reply.code(304).send()
    return await reply.send(body)
  })

  /** The first PTS of a published version's media (its lowest rung's first segment). */
  function mediaStartPts (video: Video): Promise<number> {
    const slot = `${video._id}/${video.version!}`
    let known = startPts.get(slot)
    if (known === undefined) {
      const rung = [...video.renditions].sort((a, b) => a.bandwidth - b.bandwidth)[0]
      if (rung === undefined) return Promise.resolve(0)
      const key = videoKeys.segment(video._id, video.version!, rung.name, segmentName(0))
      known = app.cache.readThrough(key, () => readObject(app.storage, key)).then((ts) => firstPts(ts) ?? 0)
      known.catch(() => startPts.delete(slot))
      if (startPts.size > 10_000) startPts.delete(startPts.keys().next().value!)
      startPts.set(slot, known)
    }
    return known
  }

  /** Subtitle segment length: the video's own segment length. */
  function timing (video: Video, cues: ParsedCaptions['cues']): { duration: number, segmentSeconds: number } {
    const duration = video.duration ?? cues.reduce((m, c) => Math.max(m, c.end), 0)
    const segments = Math.min(...video.renditions.map((r) => r.segmentCount))
    const segmentSeconds = Number.isFinite(segments) && segments > 0 && duration > 0 ? duration / segments : 6
    return { duration: Math.max(duration, 0.001), segmentSeconds }
  }

  function sendPlaylist (reply: FastifyReply, shared: boolean, body: string): FastifyReply {
    return reply.header('cache-control', shared ? PLAYLIST : PLAYLIST_PRIVATE)
      .header('access-control-allow-origin', '*')
      .header('content-type', MPEGURL)
      .send(body)
  }

  app.get('/hls/:id/subtitles/:language/index.m3u8', async (request, reply) => {
    const { id, language } = request.params as { id: string, language: string }
    const a = await access.check(request, reply, id)
    const track = findTrack(a.video, language)
    const { cues } = await readTrack(track)
    const { duration, segmentSeconds } = timing(a.video, cues)
    const body = subtitlePlaylist(duration, segmentSeconds)
    return sendPlaylist(reply, a.shared, a.token === undefined ? body : rewritePlaylist(body, { token: a.token }))
  })

  app.get('/hls/:id/subtitles/:language/:segment', async (request, reply) => {
    const { id, language, segment } = request.params as { id: string, language: string, segment: string }
    const a = await access.check(request, reply, id)
    const track = findTrack(a.video, language)
    const m = SUBTITLE_SEGMENT_NAME.exec(segment)
    if (m === null) throw new NotFoundError(`"${segment}" is not a subtitle segment; they are named like segment-00000.vtt`)
    const { cues } = await readTrack(track)
    const { duration, segmentSeconds } = timing(a.video, cues)
    const index = Number(m[1])
    if (index >= subtitleSegmentCount(duration, segmentSeconds)) throw new NotFoundError(`The ${track.language} subtitles of video ${id} have ${subtitleSegmentCount(duration, segmentSeconds)} segments`)
    const body = subtitleSegment(cues, index, segmentSeconds, await mediaStartPts(a.video))
    return reply.header('cache-control', a.shared ? PLAYLIST : PLAYLIST_PRIVATE)
      .header('access-control-allow-origin', '*')
      .header('content-type', VTT)
      .send(body)
  })
}, { fastify: '5.x', name: 'lectern-captions', dependencies: ['lectern-auth', 'lectern-db', 'lectern-storage', 'lectern-cache', 'lectern-search'] })
