import type { FastifyRequest } from 'fastify'
import type { Rendition, Video } from '../db/documents.js'
import { readCmcd, type Cmcd } from '../abr/cmcd.js'
import { isSessionId } from '../abr/session-id.js'
import type { Ladder } from './session-tracker.js'

/** Segments every rendition has (they share boundaries), and their mean length in seconds. */
function segmentsOf (video: Video): { segments: number, segmentSeconds: number } {
  let segments = Infinity
  for (const r of video.renditions) if (r.segmentCount < segments) segments = r.segmentCount
  // While it transcodes, a video's duration is what every rung has published so far.
  const seconds = video.duration ?? video.publishedSeconds ?? null
  return { segments, segmentSeconds: seconds !== null && segments > 0 ? seconds / segments : 4 }
}

/** A segment's mean length in seconds, without building the ladder (the fast path asks for it per answer). */
export function segmentSecondsOf (video: Video): number {
  return segmentsOf(video).segmentSeconds
}

/** The renditions of a video as a ladder, lowest peak bitrate first. */
export function ladderOf (video: Video): { renditions: Rendition[], ladder: Ladder, segments: number, segmentSeconds: number } {
  const renditions = [...video.renditions].sort((a, b) => a.bandwidth - b.bandwidth || a.name.localeCompare(b.name))
  return {
    renditions,
    ladder: { peakBps: renditions.map((r) => r.bandwidth), averageBps: renditions.map((r) => r.averageBandwidth) },
    ...segmentsOf(video)
  }
}

function queryOf (request: FastifyRequest): Record<string, unknown> {
  return (request.query as Record<string, unknown> | undefined) ?? {}
}

/** The viewing session a request names (`?sid=`, or CMCD's sid) and what its player says through CMCD. */
export function sessionOf (request: FastifyRequest): { sid: string | undefined, cmcd: Cmcd | undefined } {
  const query = queryOf(request)
  const cmcd = readCmcd(typeof query.CMCD === 'string' ? query.CMCD : undefined, request.headers)
  const sid = isSessionId(query.sid) ? query.sid : isSessionId(cmcd?.sid) ? cmcd!.sid : undefined
  return { sid, cmcd }
}

