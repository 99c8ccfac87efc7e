import type { Database } from '../db/collection.js'
import type { CaptionTrack, Video } from '../db/documents.js'
import { VIDEOS, findVideo } from '../db/video-repository.js'
import { ConflictError } from '../errors.js'

export interface CaptionChange {
  video: Video
  /** the track the change replaced or removed, if there was one */
  previous: CaptionTrack | undefined
}

/**
 * Sets (track) or removes (null) the caption track of one language, and bumps updatedAt so that
 * every node's search index and the master playlist see the change. The write only lands on the
 * document as it was read (compare-and-set on updatedAt), so concurrent changes to other
 * languages are not lost and of two uploads of one language exactly one replaces the other.
 * Null when the video is gone.
 */
export async function setCaptionTrack (db: Database, videoId: string, language: string, track: CaptionTrack | null): Promise<CaptionChange | null> {
  const videos = db.collection<Video>(VIDEOS)
  for (let attempt = 0; attempt < 8; attempt++) {
    const video = await findVideo(db, videoId)
    if (video === null) return null
    const before = video.captions ?? []
    const previous = before.find((c) => c.language === language)
    const after = before.filter((c) => c.language !== language)
    if (track !== null) after.push(track)
    after.sort((a, b) => a.language.localeCompare(b.language))
    const now = new Date(Math.max(Date.now(), new Date(video.updatedAt).getTime() + 1))
    const updated = await videos.findOneAndUpdate({ _id: videoId, updatedAt: video.updatedAt }, { $set: { captions: after, updatedAt: now } }, { returnDocument: 'after' })
    if (updated !== null) return { video: updated, previous }
  }
  throw new ConflictError(`Video ${videoId} kept changing while its captions were being saved; try again`)
}
