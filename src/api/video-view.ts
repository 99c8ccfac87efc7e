import { z } from 'zod'
import type { Video } from '../db/documents.js'

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
  progress: z.number().min(0).max(1),
  etaSeconds: z.number().nullable(),
  failureReason: z.string().nullable(),
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

export function toVideoView (video: Video): VideoView {
  return {
    id: video._id,
    owner: video.owner,
    title: video.title,
    description: video.description,
    tags: video.tags,
    visibility: video.visibility,
    status: video.status,
    progress: video.progress,
    etaSeconds: video.etaSeconds,
    failureReason: video.failureReason,
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
