/**
 * Why a transcode failed. `permanent` failures (unsupported or broken input) are not retried:
 * the same bytes fail the same way on every attempt. `userFacing` messages were written for the
 * uploader (they say what to do and carry nothing internal) and are shown as they are; any other
 * message goes through userFacingReason first.
 */
export class TranscodeError extends Error {
  override name = 'TranscodeError'
  readonly userFacing: boolean
  constructor (message: string, readonly permanent: boolean, options?: { cause?: unknown, userFacing?: boolean }) {
    super(message, options)
    this.userFacing = options?.userFacing ?? false
  }
}

/** The job was cancelled, its lease was lost, or the worker is stopping; not a failure of the video. */
export class TranscodeAbortedError extends Error {
  override name = 'TranscodeAbortedError'
  constructor (readonly why: 'cancelled' | 'lease-lost' | 'shutdown' | 'deleted') {
    super(`transcode stopped: ${why}`)
  }
}
