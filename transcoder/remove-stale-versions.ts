import { videoKeys } from '../src/db/documents.js'
import { ID_PATTERN } from '../src/db/new-id.js'
import type { ObjectStore } from '../src/storage/object-store.js'

/**
 * Deletes every output version of a video but `keep` (`videos/<id>/<version>/...`): what retried,
 * crashed or replaced attempts left behind. Other objects under the video (its captions) stay.
 * Returns the versions removed.
 */
export async function removeStaleVersions (storage: ObjectStore, videoId: string, keep: string | null): Promise<string[]> {
  const root = videoKeys.prefix(videoId)
  const versions = new Set<string>()
  for (const { key } of await storage.list(root)) {
    const version = key.slice(root.length).split('/', 1)[0]!
    if (ID_PATTERN.test(version) && version !== keep) versions.add(version)
  }
  for (const version of versions) await storage.deletePrefix(videoKeys.versionPrefix(videoId, version))
  return [...versions]
}
