import type { Database } from '../db/collection.js'
import type { ResumableUploadFields } from './upload-metadata.js'

export const UPLOADS = 'uploads'

/** One S3 multipart part of an upload, as it was stored. */
export interface UploadPart {
  n: number
  etag: string
  size: number
}

/**
 * A resumable upload as Lectern tracks it beside the tus store: who may touch it, what video it
 * becomes (the upload id is that video's id), and when it expires. Every node reads the same
 * record, so ownership holds whichever node a request lands on.
 */
export interface UploadRecord {
  _id: string
  owner: string
  fields: ResumableUploadFields
  /** Upload-Length */
  size: number
  /** receiving -> finishing (one node turns it into a video) -> complete */
  state: 'receiving' | 'finishing' | 'complete'
  createdAt: Date
  expiresAt: Date
  /** S3 only: the multipart parts stored so far, in the order they completed. */
  parts: UploadPart[]
}

const uploads = (db: Database) => db.collection<UploadRecord>(UPLOADS)

export async function insertUploadRecord (db: Database, record: UploadRecord): Promise<void> {
  await uploads(db).insertOne(record)
}

export async function findUploadRecord (db: Database, id: string): Promise<UploadRecord | null> {
  return await uploads(db).findOne({ _id: id })
}

export async function deleteUploadRecord (db: Database, id: string): Promise<void> {
  await uploads(db).deleteOne({ _id: id })
}

/** Claims the turning of a received upload into a video: of concurrent callers, one gets the record. */
export async function claimFinish (db: Database, id: string): Promise<UploadRecord | null> {
  return await uploads(db).findOneAndUpdate({ _id: id, state: 'receiving' }, { $set: { state: 'finishing' } })
}

export async function setUploadState (db: Database, id: string, state: UploadRecord['state']): Promise<void> {
  await uploads(db).updateOne({ _id: id }, { $set: { state } })
}

export async function recordPart (db: Database, id: string, part: UploadPart): Promise<void> {
  await uploads(db).updateOne({ _id: id }, { $push: { parts: part } })
}

/**
 * The parts that make up the upload's first bytes: 1, 2, 3... without a gap (a part that
 * completed after an earlier one failed is not counted, and is stored again later), the latest
 * upload of each number winning.
 */
export function consecutiveParts (parts: UploadPart[]): UploadPart[] {
  const latest = new Map<number, UploadPart>()
  for (const part of parts) latest.set(part.n, part)
  const out: UploadPart[] = []
  for (let n = 1; latest.has(n); n++) out.push(latest.get(n)!)
  return out
}

export async function expiredUploadRecords (db: Database, now: Date, limit = 100): Promise<UploadRecord[]> {
  return await uploads(db).find({ expiresAt: { $lt: now } }, { sort: { expiresAt: 1 }, limit })
}

/** Uploads that became videos and are kept (for HEAD) until they expire. */
export async function finishedUploadRecords (db: Database, limit = 500): Promise<UploadRecord[]> {
  return await uploads(db).find({ state: 'complete' }, { limit })
}

export async function ensureUploadIndexes (db: Database): Promise<void> {
  await uploads(db).createIndex({ expiresAt: 1 })
  await uploads(db).createIndex({ state: 1 })
}
