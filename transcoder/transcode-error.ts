/**
 * Why a transcode failed. `permanent` failures (unsupported or broken input) are not retried:
 * the same bytes fail the same way on every attempt.
 */
export class TranscodeError extends Error {
  override name = 'TranscodeError'
  constructor (message: string, readonly permanent: boolean, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The job was cancelled, its lease was lost, or the worker is stopping; not a failure of the video. */
export class TranscodeAbortedError extends Error {
  override name = 'TranscodeAbortedError'
  constructor (readonly why: 'cancelled' | 'lease-lost' | 'shutdown' | 'deleted') {
    super(`transcode stopped: ${why}`)
  }
}
