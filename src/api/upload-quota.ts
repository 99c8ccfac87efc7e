import type { Database } from '../db/collection.js'
import type { Video } from '../db/documents.js'
import { VIDEOS } from '../db/video-repository.js'
import { PayloadTooLargeError, TooManyRequestsError } from '../errors.js'

export interface Quotas {
  storageBytes: number
  uploads: number
  jobs: number
}

const mb = (bytes: number): string => {
  const m = bytes / 1024 / 1024
  return m < 10 ? `${m.toFixed(1)} MB` : `${Math.round(m)} MB`
}

/** The storage quota refusal, naming the limit and what is left. */
export function storageQuotaError (usedBytes: number, limitBytes: number, wantBytes?: number): Error {
  const want = wantBytes === undefined ? '' : `; this upload is ${mb(wantBytes)}`
  return new PayloadTooLargeError(`storage quota: your videos use ${mb(usedBytes)} of your ${mb(limitBytes)} (QUOTA_STORAGE_MB)${want}; delete a video or ask an admin`)
}

/**
 * Per-account limits on uploading, checked before a byte of an upload is stored: storage (the
 * originals of the account's videos), uploads at once (on this node), and videos waiting for or
 * in a transcode. Admins have none.
 */
export class UploadQuota {
  readonly #db: Database
  readonly #quotas: Quotas
  readonly #active = new Map<string, number>()

  constructor (db: Database, quotas: Quotas) {
    this.#db = db
    this.#quotas = quotas
  }

  get limits (): Quotas {
    return this.#quotas
  }

  /** Bytes of originals the account's videos hold. */
  async usedBytes (userId: string): Promise<number> {
    const videos = await this.#db.collection<Video>(VIDEOS).find({ owner: userId }, { projection: { originalSize: 1 } })
    return videos.reduce((sum, v) => sum + (v.originalSize ?? 0), 0)
  }

  /**
   * Admits one upload of (at most) declaredBytes, or throws the 4xx naming the limit. Returns the
   * bytes the upload may still take (Infinity for admins) and a release to call when it ends.
   */
  async admit (user: { sub: string, role: string }, declaredBytes: number | undefined): Promise<{ remainingBytes: number, release: () => void }> {
    if (user.role === 'admin') return { remainingBytes: Infinity, release: () => {} }
    const q = this.#quotas
    const active = this.#active.get(user.sub) ?? 0
    if (active >= q.uploads) {
      throw new TooManyRequestsError(`upload quota: you have ${active} upload${active === 1 ? '' : 's'} in progress, the most at once (QUOTA_UPLOADS=${q.uploads}); start this one when one has finished`)
    }
    // Counted at once (before any await), so two uploads arriving together cannot both slip in.
    this.#active.set(user.sub, active + 1)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      const n = (this.#active.get(user.sub) ?? 1) - 1
      if (n <= 0) this.#active.delete(user.sub)
      else this.#active.set(user.sub, n)
    }
    try {
      const waiting = await this.#db.collection<Video>(VIDEOS).countDocuments({ owner: user.sub, status: { $in: ['uploaded', 'processing'] } })
      if (waiting >= q.jobs) {
        throw new TooManyRequestsError(`transcode quota: ${waiting} of your videos are waiting for or in a transcode, the most at once (QUOTA_JOBS=${q.jobs}); upload more once one is ready`)
      }
      const used = await this.usedBytes(user.sub)
      const remainingBytes = q.storageBytes - used
      if (remainingBytes <= 0 || (declaredBytes !== undefined && declaredBytes > remainingBytes)) {
        throw storageQuotaError(used, q.storageBytes, declaredBytes)
      }
      return { remainingBytes, release }
    } catch (err) {
      release()
      throw err
    }
  }
}
