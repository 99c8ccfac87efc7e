// /adaptive_stream over a real bottleneck: Lectern in one network namespace, a plain player in
// another, a tbf-shaped link with a 40 ms round trip between them (test/helpers/netns.ts). The
// server sees only what a server can (no CMCD from this player): the estimate comes from its own
// observation of the segments it delivers.
import t from 'tap'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { requireNamespaces, startBottleneck, type Bottleneck } from '../helpers/netns.js'
import { mediaDir } from '../helpers/media.js'
import { makeCbrLadder, waitForReady } from './cbr-ladder.js'
import { tempDir } from '../helpers/config.js'

const SERVER = fileURLToPath(new URL('./lectern-in-namespace.ts', import.meta.url))
const PLAYER = fileURLToPath(new URL('./adaptive-player.mjs', import.meta.url))
const PORT = 3000
/** TCP payload per Ethernet frame: the goodput a tbf rate R allows is R x 1448/1514. */
const PAYLOAD_SHARE = 1448 / 1514
// What hls.js keeps ahead by default (maxBufferLength): within 20 segments this player never waits, so every gap is a transfer.
const CAP_S = 30
const SEGMENT_S = 2

interface Played { i: number, rendition: string, bytes: number, ms: number, etpKbps: number | null, stallMs: number, buffer: number }

if (requireNamespaces(t)) {
  const dir = await mediaDir(t)
  const ladder = join(dir, 'ladder')
  // Two-second segments: a 50 KB segment of the low rung crosses a 4 Mbit/s link in 0.1 s, which
  // on a busy 2-core machine is the order of the player's and server's own scheduling delays.
  await makeCbrLadder(ladder, SEGMENT_S * 30, undefined, SEGMENT_S)

  const b = await startBottleneck(t, { rateMbit: 16, rttMs: 40, name: 'abr' })
  const data = await tempDir(t)
  const server = b.spawnIn('server', process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, LADDER_DIR: ladder, DATA_DIR: data, HOST: b.serverAddr, PORT: String(PORT), LOG_LEVEL: 'warn', WORKER: 'off' }
  })
  const id = await waitForReady(server)
  const base = `http://${b.serverAddr}:${PORT}`

  t.test('the served rendition settles on the highest rung the rate carries, and the estimate is within 15% of it', async (t) => {
    for (const [mbit, expected] of [[1, 'low'], [4, 'mid'], [16, 'high']] as const) {
      await b.setRate(mbit)
      const played = await play(b, base, id, 20)
      const last = played.slice(-5)
      t.comment(`${mbit} Mbit/s: ${played.map((p) => p.rendition).join(' ')}; etp ${played.map((p) => p.etpKbps).join(' ')} kbit/s`)
      t.same(last.map((p) => p.rendition), Array(5).fill(expected), `${mbit} Mbit/s: settles on ${expected}`)
      const goodputKbps = mbit * 1000 * PAYLOAD_SHARE
      const etp = last[last.length - 1]!.etpKbps
      t.ok(etp !== null, 'the server sends its estimate (CMSD-Dynamic etp)')
      const error = (etp! - goodputKbps) / goodputKbps
      t.comment(`${mbit} Mbit/s: estimate ${etp} kbit/s against a goodput of ${Math.round(goodputKbps)} kbit/s: ${(error * 100).toFixed(1)}%`)
      t.ok(Math.abs(error) <= 0.15, `${mbit} Mbit/s: estimate within 15% (${(error * 100).toFixed(1)}%)`)
    }
  })

  t.test('a drop from 16 to 1 Mbit/s mid-play: down within two segments, no stall longer than one segment', async (t) => {
    await b.setRate(16)
    const dropAt = 14
    const played = await play(b, base, id, 26, async (p) => { if (p.i === dropAt) await b.setRate(1) })
    t.comment(played.map((p) => `${p.i}:${p.rendition}/${p.ms}ms/stall ${p.stallMs}`).join(' '))
    t.equal(played[dropAt]!.rendition, 'high', 'on the top rung before the drop')
    const down = played.findIndex((p) => p.i > dropAt && p.rendition !== 'high')
    t.ok(down !== -1 && down - dropAt <= 2, `steps down at segment ${down} (the drop came after ${dropAt})`)
    const worst = Math.max(...played.map((p) => p.stallMs))
    t.ok(worst <= SEGMENT_S * 1000, `longest stall ${worst} ms (one segment is ${SEGMENT_S * 1000} ms)`)
    t.same(played.slice(-3).map((p) => p.rendition), ['low', 'low', 'low'], 'settles on the rung 1 Mbit/s carries')
  })

  // Lectern must be gone before its data directory and the namespaces are (teardowns run last first).
  t.teardown(async () => {
    if (server.exitCode !== null || server.signalCode !== null) return
    const exited = new Promise((resolve) => server.once('exit', resolve))
    server.stdin?.write('SIGTERM\n')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))])
  })
}

async function play (b: Bottleneck, base: string, id: string, segments: number, onSegment?: (p: Played) => Promise<void>): Promise<Played[]> {
  const player = b.spawnIn('client', process.execPath, [PLAYER, base, id, String(segments), String(CAP_S)])
  const played: Played[] = []
  let pending = ''
  let err = ''
  player.stderr!.on('data', (c: Buffer) => { err += c.toString('utf8') })
  const hooks: Array<Promise<void>> = []
  player.stdout!.on('data', (c: Buffer) => {
    pending += c.toString('utf8')
    let nl: number
    while ((nl = pending.indexOf('\n')) !== -1) {
      const p = JSON.parse(pending.slice(0, nl)) as Played
      pending = pending.slice(nl + 1)
      played.push(p)
      if (onSegment !== undefined) hooks.push(onSegment(p))
    }
  })
  const [code] = await new Promise<[number | null]>((resolve) => player.once('exit', (c) => resolve([c])))
  await Promise.all(hooks)
  if (code !== 0 || played.length !== segments) throw new Error(`the player exited with ${code} after ${played.length} segments: ${err}`)
  return played
}
