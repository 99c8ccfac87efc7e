// The network-namespace bottleneck (test/helpers/netns.ts) gives the rate it is set to, changes it
// live, adds the round trip it is asked for, and leaves nothing behind.
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { requireNamespaces, startBottleneck, type Bottleneck } from '../helpers/netns.js'

const PROBE = fileURLToPath(new URL('../helpers/netns-probe.mjs', import.meta.url))
const BODY_BYTES = 2 * 1024 * 1024
const PORT = 8080
/** TCP payload per Ethernet frame (1448 of 1514 bytes): the best goodput tbf's rate allows. */
const PAYLOAD_SHARE = 1448 / 1514

function collect (child: ChildProcess): { text: () => string } {
  let out = ''
  let err = ''
  child.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString('utf8') })
  child.stderr!.on('data', (chunk: Buffer) => { err += chunk.toString('utf8') })
  return { text: () => out + (err === '' ? '' : `\nstderr: ${err}`) }
}

async function startServer (b: Bottleneck): Promise<void> {
  const server = b.spawnIn('server', process.execPath, [PROBE, 'serve', b.serverAddr, String(PORT), String(BODY_BYTES)])
  const out = collect(server)
  const deadline = Date.now() + 10_000
  while (!out.text().includes('listening')) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not start:\n${out.text()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

interface Fetch {
  samples: Array<[ms: number, bytes: number]>
  ends: number[]
  downloads: number
}

function parseFetch (text: string): Fetch {
  const samples: Array<[number, number]> = []
  const ends: number[] = []
  let downloads = -1
  for (const line of text.split('\n')) {
    const parts = line.trim().split(' ')
    if (parts[0] === 'end') ends.push(Number(parts[1]))
    else if (parts[0] === 'done') downloads = Number(parts[1])
    else if (parts.length === 2) samples.push([Number(parts[0]), Number(parts[1])])
  }
  return { samples, ends, downloads }
}

/** Goodput in Mbit/s between two moments (ms since the fetch started), from the nearest samples. */
function mbitBetween (f: Fetch, fromMs: number, toMs: number): number {
  const a = f.samples.find(([ms]) => ms >= fromMs)
  const z = [...f.samples].reverse().find(([ms]) => ms <= toMs)
  if (a === undefined || z === undefined || z[0] <= a[0]) throw new Error(`no samples between ${fromMs} and ${toMs} ms`)
  return (z[1] - a[1]) * 8 / ((z[0] - a[0]) / 1000) / 1e6
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('tbf bottleneck: 16, 4 and 1 Mbit/s, changed live in the middle of a download', async (t: Test) => {
  if (!requireNamespaces(t)) return
  const b = await startBottleneck(t, { rateMbit: 16 })
  t.match(b.serverAddr, /^198\.1[89]\./)
  t.match(b.clientAddr, /^198\.1[89]\./)
  await startServer(b)

  // One client downloading the 2 MiB body again and again on one connection, while the rate
  // changes under it. Each phase is measured after a settling time (the tbf queue drains and TCP
  // adapts), to its end.
  const phases = [
    { mbit: 16, ms: 4000, settleMs: 1000 },
    { mbit: 4, ms: 3500, settleMs: 800 },
    { mbit: 1, ms: 5000, settleMs: 1200 }
  ]
  const totalMs = phases.reduce((sum, p) => sum + p.ms, 0)
  const client = b.spawnIn('client', process.execPath, [PROBE, 'fetch', `http://${b.serverAddr}:${PORT}/`, String(totalMs / 1000)])
  const out = collect(client)
  const exited = once(client, 'exit') as Promise<[number | null]>
  // Phases are timed on the client's clock: from its first progress line (at 50 ms), which also
  // keeps a slow process start-up out of the 16 Mbit/s phase.
  const deadline = Date.now() + 10_000
  while (!/^\d+ \d+$/m.test(out.text())) {
    if (client.exitCode !== null || Date.now() > deadline) throw new Error(`the client did not start:\n${out.text()}`)
    await sleep(5)
  }
  const started = Date.now() - 50
  const switches: number[] = []
  for (const [i, phase] of phases.entries()) {
    if (i > 0) {
      await b.setRate(phase.mbit)
      switches.push(Date.now() - started)
    }
    t.equal(b.rateMbit, phase.mbit)
    await sleep(phase.ms)
  }
  const [code] = await exited
  t.equal(code, 0, 'the client ran to its deadline without errors', { output: out.text().slice(-2000) })
  const f = parseFetch(out.text())

  const rates: string[] = []
  for (const [i, phase] of phases.entries()) {
    const from = (i === 0 ? 0 : switches[i - 1]!) + phase.settleMs
    const to = i + 1 < phases.length ? switches[i]! : (f.samples.at(-1)?.[0] ?? totalMs)
    const mbit = mbitBetween(f, from, to)
    const ratio = mbit / phase.mbit
    rates.push(`${phase.mbit} Mbit/s: ${mbit.toFixed(3)} Mbit/s goodput (${(ratio * 100).toFixed(1)}%, ${(ratio / PAYLOAD_SHARE * 100).toFixed(1)}% of the frame rate)`)
    // tc counts the rate on whole Ethernet frames, so the link's rate is the goodput over the
    // payload share (1448 of 1514 bytes): that is what must be within 10% of the set rate.
    const linkRatio = ratio / PAYLOAD_SHARE
    t.ok(linkRatio > 0.9 && linkRatio < 1.1, `the link carries ${phase.mbit} Mbit/s within 10%: ${mbit.toFixed(3)} Mbit/s goodput, ${(linkRatio * 100).toFixed(1)}% of the rate on the wire`)
  }
  t.comment(rates.join('\n'))

  // Downloads of 2 MiB take 1.1 s at 16 Mbit/s and 4.4 s at 4, so a rate change lands in the
  // middle of one: at least one change has no download ending near it, and data kept coming after.
  const midDownload = switches.map((ms) => ms).filter((sw) => f.ends.every((end) => Math.abs(end - sw) > 300))
  t.ok(midDownload.length > 0, 'a rate change happened in the middle of a download', { ends: f.ends, switches: switches.map((ms) => ms) })
  t.ok(f.downloads >= 2, `several downloads completed (${f.downloads})`)
  t.match(b.qdiscStats(), /tbf .* rate 1Mbit/)
})

t.test('rttMs adds a real round trip (packet delay line in the router namespace)', async (t: Test) => {
  if (!requireNamespaces(t)) return
  const python = spawnSync('python3', ['-c', 'import fcntl, select'], { encoding: 'utf8' })
  if (python.status !== 0) {
    // python3 is part of the test machines (TESTING.md); missing it is a failure in CI.
    if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') t.fail('python3 is required for rttMs in CI')
    else t.plan(0, 'python3 is not runnable: rttMs needs it')
    return
  }
  const b = await startBottleneck(t, { rateMbit: 4, rttMs: 40 })
  await startServer(b)
  const probe = b.spawnIn('client', process.execPath, [PROBE, 'connect', b.serverAddr, String(PORT), '8'])
  const out = collect(probe)
  await once(probe, 'exit')
  const times = out.text().trim().split('\n').map(Number)
  t.equal(times.length, 8, 'eight connects', { output: out.text() })
  const sorted = [...times].sort((x, y) => x - y)
  const median = sorted[4]!
  t.comment(`TCP connect times with rttMs 40: ${times.map((x) => x.toFixed(1)).join(', ')} ms`)
  // The delay line never lets a packet through early; late it can be, when the machine is busy
  // (it is a userspace process): the fastest connect is the honest measure of the added delay.
  t.ok(sorted[0]! >= 40 && sorted[0]! < 46, `the fastest connect (one round trip) takes ~40 ms: ${sorted[0]!.toFixed(2)} ms`)
  t.ok(median < 70, `the median connect takes ${median.toFixed(2)} ms`)

  const client = b.spawnIn('client', process.execPath, [PROBE, 'fetch', `http://${b.serverAddr}:${PORT}/`, '5'])
  const fout = collect(client)
  await once(client, 'exit')
  const mbit = mbitBetween(parseFetch(fout.text()), 1500, 5000)
  t.comment(`4 Mbit/s with a 40 ms round trip: ${mbit.toFixed(3)} Mbit/s goodput`)
  const linkRatio = mbit / 4 / PAYLOAD_SHARE
  t.ok(linkRatio > 0.9 && linkRatio < 1.1, `the link carries 4 Mbit/s within 10% with a 40 ms round trip: ${mbit.toFixed(3)} Mbit/s goodput, ${(linkRatio * 100).toFixed(1)}% of the rate on the wire`)
})

t.test('close removes the namespaces; leftovers of a dead process are removed at the next start', async (t: Test) => {
  if (!requireNamespaces(t)) return
  const list = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  const b = await startBottleneck(t, { rateMbit: 4, name: 'closing' })
  t.ok(list().includes(b.serverNs))
  await b.close()
  await b.close()
  for (const ns of [b.serverNs, b.routerNs, b.clientNs]) t.notOk(list().includes(ns), `${ns} is gone`)

  // A child process makes a bottleneck with a delay line and is SIGKILLed: its namespaces stay
  // (nothing in the host's namespace), and the next createBottleneck deletes them.
  const script = `
    import { createBottleneck } from ${JSON.stringify(new URL('../helpers/netns.ts', import.meta.url).href)}
    const b = await createBottleneck({ rateMbit: 4, rttMs: 10 })
    process.stdout.write(b.serverNs + '\\n')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let name = ''
  child.stdout.on('data', (chunk: Buffer) => { name += chunk.toString('utf8') })
  while (!name.includes('\n')) {
    if (child.exitCode !== null) break
    await sleep(50)
  }
  name = name.trim()
  t.match(name, /^lectern-\d+-\d+-s$/, 'the child made a bottleneck')
  child.kill('SIGKILL')
  await once(child, 'exit')
  t.ok(list().includes(name), 'a SIGKILLed process leaves its namespaces')
  const next = await startBottleneck(t, { rateMbit: 4 })
  t.notOk(list().includes(name), 'the next bottleneck removed them')
  t.notOk(list().includes(name.replace(/-s$/, '-r')))
  await next.close()
})
