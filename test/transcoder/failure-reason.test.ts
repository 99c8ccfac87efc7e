import t from 'tap'
import { userFacingReason, scrub } from '../../transcoder/failure-reason.js'
import { ProcessError, runProcess } from '../../transcoder/run-process.js'
import { TranscodeError } from '../../transcoder/transcode-error.js'

const LEAK = /0x[0-9a-f]{6,}|\/tmp\/|\/work\/|\/usr\/|file:|\bat \S+ \(/

/** A TranscodeError as the transcoder makes it from a failed child process. */
function fromProcess (what: string, message: string, stderrTail: string, reason: ProcessError['reason'] = 'exit'): TranscodeError {
  const cause = new ProcessError(message, reason, { code: 1, signal: null, stdout: '', stderrTail, durationMs: 1 })
  return new TranscodeError(`${what}: ${message}`, false, { cause })
}

t.test('known ffmpeg messages become sentences that say what to do', async (t) => {
  const cases: Array<[unknown, string]> = [
    [new TranscodeError('unsupported input: the file could not be read as media ([mov,mp4,m4a,3gp,3g2,mj2 @ 0x5611220d82c0] moov atom not found | Invalid data found when processing input)', true),
      'the file is incomplete: its index (moov) is missing; upload the complete file'],
    [new TranscodeError('unsupported input: the file is truncated (it ends before the media its header describes); upload it again', true),
      'the file is incomplete: it ends before the media its header describes; upload the complete file'],
    [fromProcess('encode', '/usr/bin/ffmpeg exited with 1: [h264 @ 0x55d0c0ffee00] Invalid NAL unit size (1208 > 301)', '[h264 @ 0x55d0c0ffee00] Invalid NAL unit size (1208 > 301)\nError while decoding stream #0:0: Invalid data found when processing input\n'),
      'the video data is damaged and could not be decoded; export or copy the file again and upload it'],
    [new TranscodeError('unsupported input: the file could not be read as media (EBML header parsing failed | Invalid data found when processing input)', true),
      'the file is not a video Lectern can read (its data is in no known format, or damaged); upload an MP4, MOV, MKV or WebM video'],
    [new TranscodeError('unsupported input: the file has no video stream', true), 'the file has no video picture (only sound, or nothing); upload a video file'],
    [fromProcess('encode', '/usr/bin/ffmpeg ran longer than 330 s and was killed', '', 'timeout'),
      'processing took longer than this server allows; upload a shorter or lower-resolution video, or ask the administrator'],
    [fromProcess('encode', '/usr/bin/ffmpeg exited with 1: av_interleaved_write_frame(): No space left on device', 'file:/tmp/lectern-transcode-x/out/720p/segment-00003.ts: No space left on device'),
      'the server ran out of disk space while processing; this is a problem of the server, not of your file: tell the administrator'],
    [fromProcess('probe', '/opt/ff/ffprobe could not be started: spawn /opt/ff/ffprobe ENOENT', '', 'spawn'),
      'the server could not run its video tools (ffmpeg); this is a problem of the server, not of your file: tell the administrator, who will find it in /health/ready'],
    [new TranscodeError('could not read the original originals/abc: ENOENT: no such file or directory, open \'/work/data/objects/originals/abc\'', true),
      'the uploaded file could not be read back from storage; upload it again']
  ]
  for (const [err, expected] of cases) t.equal(userFacingReason(err), expected)
})

t.test('messages written for the uploader are kept', async (t) => {
  const message = 'the video is 10 h 0 min long; this server accepts up to 6 h (MAX_DURATION_S): cut it into shorter parts and upload each'
  t.equal(userFacingReason(new TranscodeError(message, true, { userFacing: true })), message)
})

t.test('anything else is scrubbed: no addresses, paths, file: URLs or stack frames', async (t) => {
  const err = new Error('encode: /usr/bin/ffmpeg exited with 1: [libx264 @ 0x5611220d82c0] frame MB size (1x1) > level limit in file:/tmp/lectern-transcode-Ab12/original\n    at runProcess (/work/main/transcoder/run-process.ts:120:9)')
  const reason = userFacingReason(err)
  t.notMatch(reason, LEAK, reason)
  t.match(reason, /^processing failed; upload the video again, or export it as MP4 \(H\.264 and AAC\) first \(encode: frame MB size \(1x1\) > level limit in the file\)$/)
  t.notMatch(userFacingReason('/var/lib/lectern/data/x went wrong at 0xdeadbeef00'), LEAK)
  t.equal(userFacingReason(undefined), 'processing failed; upload the video again, or export it as MP4 (H.264 and AAC) first')
  t.equal(scrub('C:\\Users\\me\\clip.mp4: bad header'), 'bad header')
})

t.test('a real failing process: the scrubbed reason names neither the binary nor its temp dir', async (t) => {
  const err = await runProcess(process.execPath, ['-e', 'console.error("[mov,mp4 @ 0x5611220d82c0] something odd in file:" + process.argv[1]); process.exit(2)', '/tmp/lectern-transcode-zz/original'], { timeoutMs: 10_000 }).catch((e: unknown) => e)
  const reason = userFacingReason(new TranscodeError(`encode: ${(err as Error).message}`, false, { cause: err }))
  t.notMatch(reason, LEAK, reason)
  t.notMatch(reason, new RegExp(process.execPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
})
