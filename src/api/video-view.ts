import { z } from 'zod'
import { isPlayable, type Video } from '../db/documents.js'

const sourceSchema = z.object({
  container: z.string(),
  videoCodec: z.string(),
  audioCodec: z.string().nullable(),
  size: z.number(),
  width: z.number(),
  height: z.number(),
  frameRate: z.number(),
  bitrate: z.number(),
  duration: z.number()
})

const renditionSchema = z.object({
  name: z.string(),
  width: z.number(),
  height: z.number(),
  frameRate: z.number(),
  bandwidth: z.number().describe('peak bits/s'),
  averageBandwidth: z.number().describe('average bits/s'),
  codecs: z.string()
})

/** A video as the JSON API shows it: storage internals (keys, versions) stay inside. */
export const videoViewSchema = z.object({
  id: z.string(),
  owner: z.string(),
  title: z.string(),
  description: z.string(),
  tags: z.array(z.string()),
  visibility: z.enum(['public', 'unlisted', 'private']),
  status: z.enum(['uploaded', 'processing', 'ready', 'failed']),
  playable: z.boolean().describe('true when HLS plays now: when ready, and while still processing once the first segments of every rung are published (the playlists grow until the job ends; the MP4 at /stream comes last)'),
  progress: z.number().min(0).max(1),
  etaSeconds: z.number().nullable(),
  failureReason: z.string().nullable().describe('why the last attempt failed, for the uploader; also set while a retry waits (status uploaded, retryAt set)'),
  retryAt: z.string().nullable().describe('while a failed attempt waits to be retried: when it runs again (ISO 8601)'),
  queuePosition: z.number().int().min(1).nullable().describe('while waiting to be transcoded: 1 runs next; owners take turns, so another user\'s long queue does not come first'),
  duration: z.number().nullable(),
  source: sourceSchema.nullable(),
  renditions: z.array(renditionSchema),
  hasPoster: z.boolean(),
  originalName: z.string().nullable(),
  originalSize: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
  views: z.number()
})

export type VideoView = z.infer<typeof videoViewSchema>

/** `queuePosition`: the video's place in the transcode queue (queuePositions), when it waits in it. */
export function toVideoView (video: Video, queuePosition: number | null = null): VideoView {
  const waiting = video.status === 'uploaded'
  return {
    id: video._id,
    owner: video.owner,
    title: video.title,
    description: video.description,
    tags: video.tags,
    visibility: video.visibility,
    status: video.status,
    playable: isPlayable(video),
    progress: video.progress,
    etaSeconds: video.etaSeconds,
    failureReason: video.failureReason,
    // An attempt clears failureReason when it starts, so a retryAt left from before never shows.
    retryAt: waiting && video.failureReason !== null && video.retryAt !== undefined && video.retryAt !== null ? new Date(video.retryAt).toISOString() : null,
    queuePosition: waiting ? queuePosition : null,
    duration: video.duration,
    source: video.source,
    renditions: video.renditions.map((r) => ({
      name: r.name,
      width: r.width,
      height: r.height,
      frameRate: r.frameRate,
      bandwidth: r.bandwidth,
      averageBandwidth: r.averageBandwidth,
      codecs: r.codecs
    })),
    hasPoster: video.posterKey !== null,
    originalName: video.originalName,
    originalSize: video.originalSize,
    createdAt: new Date(video.createdAt).toISOString(),
    updatedAt: new Date(video.updatedAt).toISOString(),
    views: video.views
  }
}
