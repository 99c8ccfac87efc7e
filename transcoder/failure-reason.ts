import { ProcessError } from './run-process.js'
import { TranscodeError } from './transcode-error.js'

/**
 * What ffmpeg, ffprobe and the transcoder say, turned into what the uploader should do. The first
 * match wins; the order puts the specific before the general (a decoding error mid-encode also
 * says "Invalid data found", a truncated MP4 also fails to decode).
 */
const KNOWN: Array<{ test: RegExp, reason: string }> = [
  {
    test: /could not be started/,
    reason: 'the server could not run its video tools (ffmpeg); this is a problem of the server, not of your file: tell the administrator, who will find it in /health/ready'
  },
  {
    test: /ran longer than \d+ s and was killed/,
    reason: 'processing took longer than this server allows; upload a shorter or lower-resolution video, or ask the administrator'
  },
  {
    test: /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/i,
    reason: 'the server ran out of disk space while processing; this is a problem of the server, not of your file: tell the administrator'
  },
  {
    test: /moov atom not found/i,
    reason: 'the file is incomplete: its index (moov) is missing; upload the complete file'
  },
  {
    test: /partial file|truncat|ends before the media/i,
    reason: 'the file is incomplete: it ends before the media its header describes; upload the complete file'
  },
  {
    test: /not on whitelist|refers to other files|not a media container/i,
    reason: 'the file is not a video container Lectern accepts (or it refers to other files); upload an MP4, MOV, MKV or WebM video'
  },
  {
    test: /no video stream|does not contain any stream|Output file #0 does not contain/i,
    reason: 'the file has no video picture (only sound, or nothing); upload a video file'
  },
  {
    test: /the file is empty/i,
    reason: 'the file is empty; upload the video again'
  },
  {
    test: /no picture size|no duration|corrupt header/i,
    reason: 'the file\'s header is damaged (it gives no picture size or duration); export the video again from the program that made it and upload that'
  },
  {
    test: /Error while decoding|error while decoding MB|decode_slice_header|Invalid NAL unit|non-existing PPS|concealing \d+ \w+ errors|corrupt (decoded )?frame/i,
    reason: 'the video data is damaged and could not be decoded; export or copy the file again and upload it'
  },
  {
    test: /Invalid data found when processing input|could not be read as media|could not find codec parameters|EBML header parsing failed/i,
    reason: 'the file is not a video Lectern can read (its data is in no known format, or damaged); upload an MP4, MOV, MKV or WebM video'
  },
  {
    test: /Decoder \(codec [^)]*\) not found|unknown codec|Unsupported codec/i,
    reason: 'the video is in a format (codec) this server cannot decode; export it as MP4 (H.264 and AAC) and upload that'
  },
  {
    test: /could not read the original/i,
    reason: 'the uploaded file could not be read back from storage; upload it again'
  },
  {
    test: /upload to storage failed/i,
    reason: 'the result could not be stored; this is a problem of the server, not of your file: it is retried, or tell the administrator'
  }
]

const GENERIC = 'processing failed; upload the video again, or export it as MP4 (H.264 and AAC) first'
const MAX_DETAIL_CHARS = 200

/**
 * The failure of a transcode as the uploader should read it: a known cause becomes a sentence that
 * says what to do; anything else is scrubbed of what is internal (heap addresses, server paths,
 * `file:` URLs, stack frames, binary paths) and kept short. Messages written for the uploader
 * (TranscodeError with `userFacing`) are kept, scrubbed all the same.
 */
export function userFacingReason (err: unknown): string {
  if (err instanceof TranscodeError && err.userFacing) return scrub(err.message)
  const text = describe(err)
  const why = processReason(err)
  if (why === 'spawn') return KNOWN[0]!.reason
  if (why === 'timeout') return KNOWN[1]!.reason
  for (const known of KNOWN) if (known.test.test(text)) return known.reason
  const detail = scrub(firstMessage(err)).replace(/\bexited with -?\w+:?\s*/, '').replace(/:\s*$/, '')
  return detail === '' ? GENERIC : `${GENERIC} (${detail})`
}

/** Removes what is internal from a message: heap addresses, paths, `file:` URLs, stack frames. */
export function scrub (message: string): string {
  return message
    .split(/\r?\n/)
    .filter((line) => !/^\s*at\s/.test(line))
    .join(' ')
    // "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5611220d82c0] " and "[h264 @ 0x...] "
    .replace(/\[[^\]]*@\s*0x[0-9a-f]+\]\s*/gi, '')
    .replace(/\b0x[0-9a-f]{6,}\b/gi, '')
    .replace(/file:\S*/gi, 'the file')
    // absolute paths (a binary's, a temp dir's, DATA_DIR's), with what follows up to a separator
    .replace(/(^|[\s(='"])\/[^\s:'"|,)]*/g, '$1')
    .replace(/[A-Za-z]:\\[^\s:'"|,)]*/g, '')
    .replace(/\s+/g, ' ')
    .replace(/\s+([:;,.)])/g, '$1')
    .trim()
    .replace(/^[:;,.|\s]+/, '')
    .slice(0, MAX_DETAIL_CHARS)
    .trim()
}

/** Every message in the cause chain, with the stderr tails of failed processes. */
function describe (err: unknown): string {
  const parts: string[] = []
  let e: unknown = err
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof Error) {
      parts.push(e.message)
      if (e instanceof ProcessError && e.result !== null) parts.push(e.result.stderrTail)
      const code = (e as { code?: unknown }).code
      if (typeof code === 'string') parts.push(code)
      e = e.cause
    } else {
      parts.push(String(e))
      break
    }
  }
  return parts.join('\n')
}

function processReason (err: unknown): ProcessError['reason'] | undefined {
  let e: unknown = err
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    if (e instanceof ProcessError) return e.reason
    e = e.cause
  }
  return undefined
}

/** The top message without a stack (what a generic reason may show, once scrubbed). */
function firstMessage (err: unknown): string {
  if (err instanceof Error) return err.message.split(/\r?\n/)[0] ?? ''
  return typeof err === 'string' ? err.split(/\r?\n/)[0] ?? '' : ''
}
