import type { Database, Filter } from './collection.js'
import type { Role, Video, VideoStatus, Visibility } from './documents.js'
import { videoKeys } from './documents.js'

export const VIDEOS = 'videos'
/**
 * One document per deleted video (`{ _id: videoId, deletedAt }`), so that nodes keeping their own
 * view of the videos (the search index) learn of a deletion by polling, like any other change.
 */
export const VIDEO_TOMBSTONES = 'video_tombstones'

export interface VideoTombstone {
  _id: string
  deletedAt: Date
}

/** The signed-in caller as the API knows it (the JWT claims). */
export interface Viewer {
  sub: string
  role: Role
}

export interface NewVideo {
  id: string
  owner: string
  title: string
  description: string
  tags: string[]
  visibility: Visibility
  originalSize: number
  originalName: string | null
}

/** A freshly uploaded video: its original is stored, nothing else is yet. */
export function newVideoDocument (input: NewVideo, now = new Date()): Video {
  return {
    _id: input.id,
    owner: input.owner,
    title: input.title,
    description: input.description,
    tags: input.tags,
    visibility: input.visibility,
    status: 'uploaded',
    progress: 0,
    etaSeconds: null,
    failureReason: null,
    duration: null,
    source: null,
    renditions: [],
    originalKey: videoKeys.original(input.id),
    originalSize: input.originalSize,
    originalName: input.originalName,
    version: null,
    posterKey: null,
    progressiveKey: null,
    createdAt: now,
    updatedAt: now,
    views: 0,
    accessEpoch: 0
  }
}

export async function insertVideo (db: Database, video: Video): Promise<void> {
  await db.collection<Video>(VIDEOS).insertOne(video)
}

export async function findVideo (db: Database, id: string): Promise<Video | null> {
  return await db.collection<Video>(VIDEOS).findOne({ _id: id })
}

/** Position in the (createdAt desc, _id desc) order of listings. */
export interface ListPosition {
  createdAt: Date
  id: string
}

export interface ListVideosQuery {
  /** only this owner's videos; undefined for all (admins) */
  owner?: string
  status?: VideoStatus
  limit: number
  /** start strictly after this position */
  after?: ListPosition
}

/** Newest first, ties by id, so that a cursor never skips or repeats a video. Returns up to limit + 1 to tell whether more follow. */
export async function listVideos (db: Database, query: ListVideosQuery): Promise<Video[]> {
  const clauses: Filter[] = []
  if (query.owner !== undefined) clauses.push({ owner: query.owner })
  if (query.status !== undefined) clauses.push({ status: query.status })
  if (query.after !== undefined) {
    clauses.push({
      $or: [
        { createdAt: { $lt: query.after.createdAt } },
        { createdAt: query.after.createdAt, _id: { $lt: query.after.id } }
      ]
    })
  }
  const filter: Filter = clauses.length === 0 ? {} : clauses.length === 1 ? clauses[0]! : { $and: clauses }
  return await db.collection<Video>(VIDEOS).find(filter, { sort: { createdAt: -1, _id: -1 }, limit: query.limit + 1 })
}

export interface VideoMetadataPatch {
  title?: string
  description?: string
  tags?: string[]
  visibility?: Visibility
}

/**
 * Applies a metadata change and bumps updatedAt; null if the video is gone. A change of visibility
 * also bumps the access epoch in the same update, which revokes every playback token issued before.
 */
export async function updateVideoMetadata (db: Database, id: string, patch: VideoMetadataPatch): Promise<Video | null> {
  const $set: Record<string, unknown> = { updatedAt: new Date() }
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) $set[k] = v
  const videos = db.collection<Video>(VIDEOS)
  if (patch.visibility !== undefined) {
    const changed = await videos.findOneAndUpdate({ _id: id, visibility: { $ne: patch.visibility } },
      { $set, $inc: { accessEpoch: 1 } }, { returnDocument: 'after' })
    if (changed !== null) return changed
  }
  return await videos.findOneAndUpdate({ _id: id }, { $set }, { returnDocument: 'after' })
}

/** Removes the record, leaving a tombstone first so pollers cannot miss the deletion. */
export async function deleteVideoRecord (db: Database, id: string): Promise<boolean> {
  await db.collection<VideoTombstone>(VIDEO_TOMBSTONES).updateOne(
    { _id: id }, { $set: { deletedAt: new Date() } }, { upsert: true })
  return await db.collection<Video>(VIDEOS).deleteOne({ _id: id }) > 0
}

/** Videos changed at or after since (for pollers). */
export async function videosChangedSince (db: Database, since: Date): Promise<Video[]> {
  return await db.collection<Video>(VIDEOS).find({ updatedAt: { $gte: since } }, { sort: { updatedAt: 1 } })
}

export async function videosDeletedSince (db: Database, since: Date): Promise<VideoTombstone[]> {
  return await db.collection<VideoTombstone>(VIDEO_TOMBSTONES).find({ deletedAt: { $gte: since } })
}

/** Drops tombstones old enough that every poller has seen them. */
export async function pruneVideoTombstones (db: Database, before: Date): Promise<number> {
  return await db.collection<VideoTombstone>(VIDEO_TOMBSTONES).deleteMany({ deletedAt: { $lt: before } })
}

/** Public and unlisted videos are readable by anyone; private ones by their owner and admins. */
export function canView (video: Video, viewer: Viewer | undefined | null): boolean {
  if (video.visibility !== 'private') return true
  return canEdit(video, viewer)
}

/** Only the owner or an admin may change or delete a video. */
export function canEdit (video: Video, viewer: Viewer | undefined | null): boolean {
  if (viewer == null) return false
  return viewer.role === 'admin' || viewer.sub === video.owner
}
