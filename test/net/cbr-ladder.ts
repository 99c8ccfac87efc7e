// What the tests over a real bottleneck share: a constant-bitrate 3-rung ladder with short
// segments (what fits at 1, 4 and 16 Mbit/s is low, mid and high, with room for the link's
// overhead), made by ffmpeg in the layout test/net/lectern-in-namespace.ts publishes, and the
// wait for that Lectern to say it is ready.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface CbrRung { name: string, width: number, height: number, bitrate: number }

export const CBR_RUNGS: CbrRung[] = [
  { name: 'low', width: 320, height: 180, bitrate: 400_000 },
  { name: 'mid', width: 640, height: 360, bitrate: 1_500_000 },
  { name: 'high', width: 640, height: 360, bitrate: 6_000_000 }
]

/**
 * Encodes the rungs side by side into `<dir>/<rung>/` (segments of `segmentSeconds`, keyframes
 * every second) and writes `rungs.json` in `masterOrder` (the order the stored master lists them in).
 */
export async function makeCbrLadder (dir: string, seconds: number, masterOrder: CbrRung[] = CBR_RUNGS, segmentSeconds = 1): Promise<void> {
  await Promise.all(CBR_RUNGS.map(async (r) => {
    await mkdir(join(dir, r.name), { recursive: true })
    const kbps = Math.round(r.bitrate / 1000)
    await ffmpeg(['-f', 'lavfi', '-i', `testsrc2=size=${r.width}x${r.height}:rate=25:duration=${seconds}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
      '-b:v', `${kbps}k`, '-minrate', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`, '-x264-params', 'nal-hrd=cbr:force-cfr=1',
      '-g', '25', '-keyint_min', '25', '-sc_threshold', '0', '-f', 'hls', '-hls_time', String(segmentSeconds), '-hls_playlist_type', 'vod',
      '-hls_segment_filename', join(dir, r.name, 'segment-%05d.ts'), join(dir, r.name, 'index.m3u8')])
  }))
  await writeFile(join(dir, 'rungs.json'), JSON.stringify(masterOrder))
}

async function ffmpeg (args: string[]): Promise<void> {
  const child = spawn(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
  const code = await new Promise<number | null>((resolve, reject) => { child.once('error', reject); child.once('exit', resolve) })
  if (code !== 0) throw new Error(`ffmpeg ${args.join(' ')} exited with ${code}: ${err}`)
}

/** The id lectern-in-namespace.ts prints once it listens; rejects if it exits or takes over a minute. */
export async function waitForReady (server: ChildProcess): Promise<string> {
  let out = ''
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Lectern did not start in the namespace:\n${out}`)), 60_000)
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8')
      const m = /ready ([0-9a-f]{20})/.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    }
    server.stdout!.on('data', onData)
    server.stderr!.on('data', onData)
    server.once('exit', (code) => { clearTimeout(timer); reject(new Error(`Lectern exited with ${code}:\n${out}`)) })
  })
}
