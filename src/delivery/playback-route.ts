import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { accessEpochOf, isPlayable } from '../db/documents.js'
import { ID_PATTERN } from '../db/new-id.js'
import { canEdit, canView, findVideo } from '../db/video-repository.js'
import { ConflictError, NotFoundError } from '../errors.js'
import type { MediaAccess } from './media-access.js'
import { issuePlaybackToken } from './playback-token.js'
import type { SessionTracker } from './session-tracker.js'

const playbackSchema = z.object({
  token: z.string().describe('playback token; append as ?token= (the URLs below already carry it when needed)'),
  expiresAt: z.string().describe('ISO 8601 time after which the token is refused'),
  hlsUrl: z.string(),
  streamUrl: z.string(),
  adaptiveUrl: z.string().describe('the server-side adaptive media playlist, for players without ABR of their own'),
  sid: z.string().describe('the viewing session id the URLs carry'),
  estimateBps: z.number().nullable().describe("the server's bandwidth estimate for this viewer (its session or its network), bits/s; null when nothing is known")
})

/**
 * `GET /api/videos/:id/playback`: a short-lived playback token, a viewing session and the URLs to
 * play a video with (the web UI's watch page starts here).
 */
export function registerPlaybackRoute (fastify: FastifyInstance, access: MediaAccess, tracker: SessionTracker, key: Buffer): void {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { db, config } = app
  app.get('/api/videos/:id/playback', {
    schema: {
      tags: ['videos'],
      summary: 'A short-lived playback token, a viewing session and the URLs to play a video with',
      description: 'Public videos play without a token; unlisted and private ones need the token, which the URLs given here carry. ' +
        'The URLs also carry a viewing session id (sid), so the server can adapt what it serves to the throughput it measures for this viewer.',
      params: z.object({ id: z.string() }),
      response: { 200: playbackSchema }
    }
  }, async (request, reply) => {
    const { id } = request.params
    if (!ID_PATTERN.test(id)) throw new NotFoundError(`No video "${id}": video ids are 20 hex characters`)
    const video = await findVideo(db, id)
    const user = await access.viewer(request, reply)
    if (video === null || !canView(video, user)) throw new NotFoundError(`No video ${id}`)
    if (!isPlayable(video)) {
      if (canEdit(video, user)) throw new ConflictError(`Video ${id} is ${video.status}; it plays once it is ready`)
      throw new NotFoundError(`No video ${id}`)
    }
    const { token, expiresAt } = issuePlaybackToken(key, id, accessEpochOf(video), config.playbackTokenTtlSeconds)
    const { sid, estimateBps } = await tracker.open(undefined, request.ip)
    const withToken = video.visibility === 'public' ? '' : `token=${encodeURIComponent(token)}`
    const query = (extra: string): string => [withToken, extra].filter((p) => p !== '').map((p, i) => (i === 0 ? '?' : '&') + p).join('')
    reply.header('cache-control', 'private, no-store')
    return {
      token,
      expiresAt: expiresAt.toISOString(),
      hlsUrl: `/hls/${id}/master.m3u8${query(`sid=${sid}`)}`,
      streamUrl: `/stream/${id}${query('')}`,
      adaptiveUrl: `/adaptive_stream/${id}${query(`sid=${sid}`)}`,
      sid,
      estimateBps
    }
  })
}
