// A plain decoder follows the server's switches: ffmpeg (no ABR of its own) reads /adaptive_stream
// through a real bottleneck (test/helpers/netns.ts: a tbf link, 40 ms round trip) whose rate the
// test changes while it plays (16 -> 1 -> 16 Mbit/s), so that Lectern answers the same playlist
// with different renditions along the way. The renditions differ in picture size (320x180 and
// 640x360) and bitrate. ffmpeg must exit 0, print no error and decode every frame of the source,
// each one identical to the same frame decoded from the rendition the server says it sent. The
// switches are counted from the server's own answers (Lectern-Rendition), read by a pass-through
// proxy beside ffmpeg (rendition-log-proxy.mjs).
//
// What ffmpeg does print, at warning level, is one "Packet corrupt" from its MPEG-TS demuxer at a
// switch: each rendition's segments carry on their own TS continuity counters, so the counter jumps
// where the rendition changes. The frames are intact (checked here against the reference decode);
// `-xerror` would stop at that warning.
import t from 'tap'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawn, type ChildProcess } from 'node:child_process'
import { requireNamespaces, startBottleneck } from '../helpers/netns.js'
import { mediaDir } from '../helpers/media.js'
import { tempDir } from '../helpers/config.js'
import { CBR_RUNGS, makeCbrLadder, waitForReady } from './cbr-ladder.js'

const SERVER = fileURLToPath(new URL('./lectern-in-namespace.ts', import.meta.url))
const PROXY = fileURLToPath(new URL('./rendition-log-proxy.mjs', import.meta.url))
const PORT = 3000
const PROXY_PORT = 8080
// The source: testsrc2 at 25 frames/s (cbr-ladder.ts), in 2 s segments.
const SECONDS = 60
const FPS = 25
const SEGMENT_S = 2

interface Answer { n: number, index: number, status: number, rendition: string | null, bytes: number, ms: number }

/** The JSON lines a child prints, one callback each. */
function lines (child: ChildProcess, each: (value: Record<string, unknown>) => void): void {
  let pending = ''
  child.stdout!.on('data', (c: Buffer) => {
    pending += c.toString('utf8')
    let nl: number
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      if (line.trim() !== '') each(JSON.parse(line) as Record<string, unknown>)
    }
  })
}

/** The MD5 of each decoded frame ffmpeg's framemd5 muxer prints on `child`'s stdout. */
function frameHashes (child: ChildProcess): string[] {
  const hashes: string[] = []
  let pending = ''
  child.stdout!.on('data', (c: Buffer) => {
    pending += c.toString('utf8')
    const last = pending.lastIndexOf('\n')
    if (last === -1) return
    for (const line of pending.slice(0, last).split('\n')) {
      if (line === '' || line.startsWith('#')) continue
      hashes.push(line.split(',').map((f) => f.trim())[5] ?? '')
    }
    pending = pending.slice(last + 1)
  })
  return hashes
}

/** Frame hashes of one rendition decoded on its own from the ladder's files, scaled to `size` as ffmpeg scales a stream whose picture size changes. */
async function referenceHashes (ladder: string, rendition: string, size: string): Promise<string[]> {
  const child = spawn(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-i', join(ladder, rendition, 'index.m3u8'), '-vf', `scale=${size}`, '-f', 'framemd5', '-'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const hashes = frameHashes(child)
  const code = await exitOf(child)
  if (code !== 0) throw new Error(`reference decode of ${rendition} exited with ${code}`)
  return hashes
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((resolve) => {
  if (child.exitCode !== null) resolve(child.exitCode)
  else child.once('exit', (code) => resolve(code))
})

if (requireNamespaces(t)) {
  const dir = await mediaDir(t)
  const ladder = join(dir, 'ladder')
  await makeCbrLadder(ladder, SECONDS, undefined, SEGMENT_S)

  const b = await startBottleneck(t, { rateMbit: 16, rttMs: 40, name: 'ffm' })
  const data = await tempDir(t)
  const server = b.spawnIn('server', process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, LADDER_DIR: ladder, DATA_DIR: data, HOST: b.serverAddr, PORT: String(PORT), LOG_LEVEL: 'warn', WORKER: 'off' }
  })
  // Lectern must be gone before its data directory and the namespaces are (teardowns run last first).
  t.teardown(async () => {
    if (server.exitCode !== null || server.signalCode !== null) return
    const exited = new Promise((resolve) => server.once('exit', resolve))
    server.stdin?.write('SIGTERM\n')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
  })
  const id = await waitForReady(server)

  t.test('ffmpeg plays /adaptive_stream across switches forced by the link and decodes every frame', async (t) => {
    const proxy = b.spawnIn('client', process.execPath, [PROXY, `http://${b.serverAddr}:${PORT}`, '127.0.0.1', String(PROXY_PORT)])
    t.teardown(() => { proxy.stdin?.write('SIGTERM\n') })
    const answers: Answer[] = []
    // 16 Mbit/s until the top rung has been served twice in a row, then 1 Mbit/s until the lowest
    // has been served three times in a row, then 16 again to the end.
    let phase: 'fast' | 'slow' | 'fast again' = 'fast'
    const changes: Array<Promise<void>> = []
    const changedAt: Array<{ n: number, mbit: number }> = []
    const inARow = (rendition: string, k: number) => answers.length >= k && answers.slice(-k).every((a) => a.rendition === rendition)
    const listening = new Promise<void>((resolve) => {
      lines(proxy, (v) => {
        if (v.listening === true) { resolve(); return }
        answers.push(v as unknown as Answer)
        if (phase === 'fast' && inARow('high', 2)) {
          phase = 'slow'
          changedAt.push({ n: answers.length, mbit: 1 })
          changes.push(b.setRate(1))
        } else if (phase === 'slow' && inARow('low', 3)) {
          phase = 'fast again'
          changedAt.push({ n: answers.length, mbit: 16 })
          changes.push(b.setRate(16))
        }
      })
    })
    let proxyErr = ''
    proxy.stderr!.on('data', (c: Buffer) => { proxyErr += c.toString('utf8') })
    await listening

    // -f framemd5: one line per decoded frame (after '#' header lines), with its MD5.
    const ffmpeg = b.spawnIn('client', process.env.FFMPEG_PATH ?? 'ffmpeg', ['-hide_banner', '-nostdin', '-v', 'warning',
      '-i', `http://127.0.0.1:${PROXY_PORT}/adaptive_stream/${id}`, '-map', '0:v:0', '-f', 'framemd5', '-'])
    const hashes = frameHashes(ffmpeg)
    let err = ''
    ffmpeg.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8') })
    const code = await exitOf(ffmpeg)
    await Promise.all(changes)
    const served = answers.map((a) => a.rendition ?? '?')
    const switches = served.filter((r, i) => i > 0 && r !== served[i - 1]).length
    t.comment(`served: ${answers.map((a) => `${a.index}:${a.rendition}/${a.ms}ms`).join(' ')}`)
    t.comment(`rate changes after answers ${changedAt.map((c) => `${c.n} (to ${c.mbit} Mbit/s)`).join(', ')}; ${switches} switches`)
    const warnings = err.split('\n').filter((l) => l.trim() !== '')
    const continuity = warnings.filter((l) => /^\[mpegts @ [^\]]+\] Packet corrupt \(stream = 0/.test(l))
    const others = warnings.filter((l) => !/Packet corrupt \(stream = 0|corrupt input packet in stream 0/.test(l))
    t.comment(`ffmpeg's warnings: ${continuity.length} TS continuity jumps (at ${switches} switches), ${others.length} others`)
    t.equal(code, 0, 'ffmpeg exits 0')
    t.same(others, [], 'ffmpeg prints no error, and no warning but the continuity jumps')
    t.ok(continuity.length <= switches, 'at most one continuity jump per switch')
    t.equal(hashes.length, SECONDS * FPS, `every frame decoded (${SECONDS} s at ${FPS} frames/s)`)
    // Each frame as the rendition the server named for its segment decodes it on its own.
    const renditionOf = new Map(answers.map((a) => [a.index, a.rendition ?? '?']))
    const first = CBR_RUNGS.find((r) => r.name === renditionOf.get(0))
    if (first !== undefined && hashes.length === SECONDS * FPS) {
      const size = `${first.width}:${first.height}`
      const reference = new Map<string, string[]>()
      for (const r of new Set(renditionOf.values())) reference.set(r, await referenceHashes(ladder, r, size))
      const wrong = hashes.map((h, i) => (h === reference.get(renditionOf.get(Math.floor(i / (SEGMENT_S * FPS)))!)?.[i] ? -1 : i)).filter((i) => i !== -1)
      t.same(wrong, [], 'every frame is the one its rendition decodes to')
    } else {
      t.fail(`no reference to compare with (first segment served as ${renditionOf.get(0)}, ${hashes.length} frames)`)
    }
    // ffmpeg asks for `Range: bytes=0-` (whole bodies, as 206)
    t.same(answers.filter((a) => a.status !== 200 && a.status !== 206), [], 'every segment answered whole (200 or 206)')
    t.same([...new Set(answers.map((a) => a.index))].sort((x, y) => x - y), Array.from({ length: SECONDS / SEGMENT_S }, (_, i) => i), 'every segment of the playlist was fetched')
    t.same(changedAt.map((c) => c.mbit), [1, 16], 'the link went to 1 Mbit/s while the top rung played and back to 16 once the lowest did')
    t.ok(switches >= 3, `the server switched renditions at least 3 times (${switches})`)
    const afterRecovery = served.slice(changedAt[1]?.n ?? served.length)
    t.ok(afterRecovery.some((r) => r !== 'low'), `and stepped up again after the rate came back: ${afterRecovery.join(' ')}`)
    t.equal(proxyErr, '', 'the proxy saw no error')
  })
}
