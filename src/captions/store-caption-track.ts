import type { Database } from '../db/collection.js'
import { newId } from '../db/new-id.js'
import type { ObjectStore } from '../storage/object-store.js'
import { captionKey } from './caption-files.js'
import { setCaptionTrack, type CaptionChange } from './caption-repository.js'
import type { ParsedCaptions } from './parse-captions.js'
import { writeWebVtt } from './write-webvtt.js'

export const CAPTION_CONTENT_TYPE = 'text/vtt; charset=utf-8'

/**
 * Stores parsed captions as the video's track in one language: the WebVTT file under a new key
 * (so a replace never changes bytes under a key), then the switch to it on the video document.
 * Null when the video is gone (the file is removed again). The caller removes the replaced
 * track's file (change.previous) from storage and caches.
 */
export async function storeCaptionTrack (db: Database, storage: ObjectStore, videoId: string, language: string, label: string, captions: ParsedCaptions): Promise<CaptionChange | null> {
  const key = captionKey(videoId, language, newId())
  await storage.put(key, Buffer.from(writeWebVtt(captions.cues, { styles: captions.styles })), { contentType: CAPTION_CONTENT_TYPE })
  let change: CaptionChange | null
  try {
    change = await setCaptionTrack(db, videoId, language, { language, label, key, updatedAt: new Date() })
  } catch (err) {
    await storage.delete(key).catch(() => {})
    throw err
  }
  if (change === null) await storage.delete(key).catch(() => {})
  return change
}
