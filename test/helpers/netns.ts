// A real network bottleneck for tests: three network namespaces joined by veth pairs,
//
//   server ns [to-router 198.18.0.1] <-> [to-server 198.18.0.254] router ns
//   router ns [to-client 198.18.1.254] <-> [to-router 198.18.1.1] client ns
//
// with a `tbf` qdisc on the router's egress towards the client: the server -> client direction is
// shaped at a hop between the hosts, as a real access link is, so the server's TCP stack sees an
// ordinary remote bottleneck (a full socket buffer, ACK pacing) rather than back-pressure from a
// qdisc on its own interface. The client -> server direction (requests, ACKs) is not shaped.
//
// Round-trip delay (rttMs): this kernel has no netem (no delay or loss qdisc, see TESTING.md), so
// the delay comes from a packet-level delay line in the router namespace: policy routing sends
// every packet the router forwards (both directions) into a TUN device, where a small python3
// process holds each IP packet for rttMs/2 and writes it back, and the kernel forwards it on. It is
// not a TCP proxy: the server's and the client's TCP stacks talk to each other end to end and see
// the real round trip (measured: 40 ms asked, 40.8-41.5 ms TCP connect time). Without rttMs the
// round trip is the sub-millisecond one of the veths plus whatever the tbf queue adds.
//
// Needs root, `ip` and `tc` (iproute2); rttMs also needs python3 and /dev/net/tun. Namespaces are named `lectern-<pid>-<n>-{s,r,c}`; every
// veth lives inside them (none in the host's namespace), so deleting the namespaces removes
// everything. Namespaces left by a process that has died (SIGKILLed by tap's timeout) are deleted
// when the next bottleneck is created.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const WATCHDOG = fileURLToPath(new URL('./child-watchdog.mjs', import.meta.url))
const PREFIX = 'lectern-'
const NAME_RE = /^lectern-(\d+)-(\d+)-[src]$/

/** Ethernet + IPv4 + TCP (with timestamps) headers around a 1448-byte segment. */
const FRAME_BYTES = 1514
/** Queue the tbf keeps in front of the link, in ms at the set rate (a modest access-link buffer). */
const DEFAULT_QUEUE_MS = 50

export const SERVER_ADDR = '198.18.0.1'
export const CLIENT_ADDR = '198.18.1.1'
const ROUTER_SERVER_SIDE = '198.18.0.254'
const ROUTER_CLIENT_SIDE = '198.18.1.254'
const DELAY_DEV = 'delay0'
const DELAY_TABLE = '100'

// The delay line: reads IP packets from a TUN device and writes each back after a fixed delay
// (FIFO, no loss, no rate limit). Prints "ready" once the device exists.
const DELAY_LINE_PY = `
import os, fcntl, struct, select, time, sys, collections
TUNSETIFF = 0x400454ca
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', sys.argv[2].encode(), IFF_TUN | IFF_NO_PI))
delay = float(sys.argv[1]) / 1000.0
q = collections.deque()
sys.stdout.write('ready\\n')
sys.stdout.flush()
while True:
    now = time.monotonic()
    while q and q[0][0] <= now:
        try:
            os.write(fd, q.popleft()[1])
        except OSError:
            pass
    timeout = max(0.0, q[0][0] - now) if q else None
    r, _, _ = select.select([fd], [], [], timeout)
    if r:
        due = time.monotonic() + delay
        while True:
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                break
            q.append((due, pkt))
`

export interface BottleneckOptions {
  /** Server -> client rate in Mbit/s (10^6 bit/s, counted on Ethernet frames as tc does). */
  rateMbit: number
  /**
   * Round-trip delay added by the router's delay line (half each way), on top of the veths'
   * ~0.1 ms and the tbf queue. Needs python3 and /dev/net/tun. Default: none.
   */
  rttMs?: number
  /** tbf bucket in bytes; by default 5 ms of the rate, at least 3 full frames. */
  burstBytes?: number
  /** tbf queue, as ms of the rate (tbf `latency`); default 50. */
  queueMs?: number
  /** Extra tag in the namespace names, for reading `ip netns list`; letters and digits only. */
  name?: string
}

export interface Bottleneck {
  serverNs: string
  routerNs: string
  clientNs: string
  /** Where the server listens (bind to it or to 0.0.0.0 inside serverNs). */
  serverAddr: string
  clientAddr: string
  /** The current server -> client rate in Mbit/s. */
  readonly rateMbit: number
  /** Changes the server -> client rate live (`tc qdisc replace`); connections carry on. */
  setRate (mbit: number, burstBytes?: number): Promise<void>
  /** The tbf qdisc as `tc -s` reports it (sent bytes, drops, overlimits), for diagnostics. */
  qdiscStats (): string
  /**
   * Runs `cmd args` inside a namespace (`ip netns exec`) under child-watchdog.mjs: the command dies
   * when this process does, even by SIGKILL. The returned process is the watchdog; its stdout and
   * stderr carry the command's (stdio 'pipe' by default); kill() or writing a signal name and a
   * newline to its stdin signals the command. stdin is the watchdog's, not the command's.
   */
  spawnIn (side: 'server' | 'client' | 'router', cmd: string, args: string[], opts?: Omit<SpawnOptions, 'stdio'> & { stdio?: 'pipe' | 'inherit' }): ChildProcess
  /** Runs a command in a namespace to completion (for sysctl and the like); throws on failure. */
  execIn (side: 'server' | 'client' | 'router', cmd: string, args: string[]): string
  /** Kills what spawnIn started and deletes the namespaces (and so the veths). Idempotent. */
  close (): Promise<void>
}

let counter = 0

function run (cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 })
  if (r.error !== undefined) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}: ${r.stderr.trim()}`)
  return r.stdout
}

function tryRun (cmd: string, args: string[]): { ok: boolean, out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 })
  return { ok: r.error === undefined && r.status === 0, out: r.error?.message ?? `${r.stdout}${r.stderr}`.trim() }
}

function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Names of the namespaces `ip netns list` shows. */
function listNamespaces (): string[] {
  const r = tryRun('ip', ['netns', 'list'])
  if (!r.ok) return []
  return r.out.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').filter((n) => n !== '')
}

/** Deletes `lectern-<pid>-…` namespaces whose process is gone. Returns how many it deleted. */
export function removeStaleNamespaces (): number {
  let removed = 0
  for (const ns of listNamespaces()) {
    const m = NAME_RE.exec(ns) ?? /^lectern-(\d+)-/.exec(ns)
    if (m === null || !ns.startsWith(PREFIX)) continue
    const pid = Number(m[1])
    if (pid === process.pid || pidAlive(pid)) continue
    if (tryRun('ip', ['netns', 'del', ns]).ok) removed++
  }
  return removed
}

function rateArgs (mbit: number, burstBytes: number | undefined, queueMs: number): string[] {
  if (!(mbit > 0) || !Number.isFinite(mbit)) throw new Error(`rate must be a positive number of Mbit/s, not ${mbit}`)
  const bytesPerSec = mbit * 1e6 / 8
  const burst = burstBytes ?? Math.max(3 * FRAME_BYTES, Math.ceil(bytesPerSec * 0.005))
  if (burst < FRAME_BYTES) throw new Error(`burst ${burst} is smaller than one frame (${FRAME_BYTES} bytes): nothing would pass`)
  // tc takes the rate in bit/s; `mbit` would round fractional rates.
  return ['tbf', 'rate', `${Math.round(mbit * 1e6)}bit`, 'burst', String(burst), 'latency', `${queueMs}ms`]
}

let capability: { ok: true } | { ok: false, why: string } | undefined

/** Whether namespaces, veths and tbf can be made here (root, iproute2, tbf in the kernel). Cached. */
export function canMakeNamespaces (): { ok: true } | { ok: false, why: string } {
  if (capability !== undefined) return capability
  capability = probeCapability()
  return capability
}

function probeCapability (): { ok: true } | { ok: false, why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `network namespaces need Linux, not ${process.platform}` }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, why: 'network namespaces need root (uid 0)' }
  for (const [bin, args] of [['ip', ['-V']], ['tc', ['-V']]] as const) {
    const r = tryRun(bin, [...args])
    if (!r.ok) return { ok: false, why: `${bin} (iproute2) is not runnable: ${r.out}` }
  }
  removeStaleNamespaces()
  const ns = `${PREFIX}${process.pid}-probe${counter++}-s`
  const add = tryRun('ip', ['netns', 'add', ns])
  if (!add.ok) return { ok: false, why: `ip netns add failed: ${add.out}` }
  try {
    const steps: Array<[string, string[]]> = [
      ['ip', ['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']],
      ['ip', ['-n', ns, 'link', 'set', 'p0', 'up']],
      ['tc', ['-n', ns, 'qdisc', 'add', 'dev', 'p0', 'root', ...rateArgs(4, undefined, DEFAULT_QUEUE_MS)]],
      ['tc', ['-n', ns, 'qdisc', 'replace', 'dev', 'p0', 'root', ...rateArgs(1, undefined, DEFAULT_QUEUE_MS)]]
    ]
    for (const [bin, args] of steps) {
      const r = tryRun(bin, args)
      if (!r.ok) return { ok: false, why: `${bin} ${args.join(' ')} failed: ${r.out}` }
    }
    return { ok: true }
  } finally {
    tryRun('ip', ['netns', 'del', ns])
  }
}

/**
 * Skips the test (reason printed) when namespaces cannot be made, except under CI, where that is
 * a failure: CI runs as root with iproute2 and must not pass by skipping. True when the caller
 * should go on.
 */
export function requireNamespaces (t: Test): boolean {
  const can = canMakeNamespaces()
  if (can.ok) return true
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    t.fail(`network namespaces are required in CI: ${can.why}`)
  } else {
    t.comment(`skipping: ${can.why}`)
    t.plan(0, can.why)
  }
  return false
}

/** createBottleneck, closed when the test ends. Call requireNamespaces first. */
export async function startBottleneck (t: Test, opts: BottleneckOptions): Promise<Bottleneck> {
  const b = await createBottleneck(opts)
  t.teardown(() => b.close())
  return b
}

export async function createBottleneck (opts: BottleneckOptions): Promise<Bottleneck> {
  if (opts.rttMs !== undefined && !(opts.rttMs >= 0 && opts.rttMs <= 10_000)) throw new Error(`rttMs must be 0-10000, not ${opts.rttMs}`)
  if (opts.name !== undefined && !/^[A-Za-z0-9]{1,12}$/.test(opts.name)) throw new Error(`name must be 1-12 letters or digits, not ${JSON.stringify(opts.name)}`)
  const queueMs = opts.queueMs ?? DEFAULT_QUEUE_MS
  removeStaleNamespaces()
  const base = `${PREFIX}${process.pid}-${counter++}${opts.name !== undefined ? opts.name : ''}`
  const serverNs = `${base}-s`
  const routerNs = `${base}-r`
  const clientNs = `${base}-c`
  const nsOf = { server: serverNs, router: routerNs, client: clientNs }
  const children = new Set<ChildProcess>()
  let closed = false
  let rateMbit = opts.rateMbit
  let burstBytes = opts.burstBytes

  const deleteAll = () => {
    for (const ns of [serverNs, routerNs, clientNs]) tryRun('ip', ['netns', 'del', ns])
  }

  try {
    for (const ns of [serverNs, routerNs, clientNs]) run('ip', ['netns', 'add', ns])
    // Each veth is made inside one namespace with its peer moved straight into the next one, so
    // no interface ever appears in the host's namespace.
    run('ip', ['-n', serverNs, 'link', 'add', 'to-router', 'type', 'veth', 'peer', 'name', 'to-server', 'netns', routerNs])
    run('ip', ['-n', clientNs, 'link', 'add', 'to-router', 'type', 'veth', 'peer', 'name', 'to-client', 'netns', routerNs])
    const cmds: Array<[string, string[]]> = [
      ['ip', ['-n', serverNs, 'addr', 'add', `${SERVER_ADDR}/24`, 'dev', 'to-router']],
      ['ip', ['-n', routerNs, 'addr', 'add', `${ROUTER_SERVER_SIDE}/24`, 'dev', 'to-server']],
      ['ip', ['-n', routerNs, 'addr', 'add', `${ROUTER_CLIENT_SIDE}/24`, 'dev', 'to-client']],
      ['ip', ['-n', clientNs, 'addr', 'add', `${CLIENT_ADDR}/24`, 'dev', 'to-router']]
    ]
    for (const ns of [serverNs, routerNs, clientNs]) cmds.push(['ip', ['-n', ns, 'link', 'set', 'lo', 'up']])
    cmds.push(
      // One TCP segment per packet from the server, as a real bottleneck router sees them after the
      // server's NIC has split its TSO bursts. With GSO packets of up to 64 KB, tbf queues packets
      // as large as its burst, and a setRate that shrinks the burst leaves one at the head of the
      // queue that can never get enough tokens: the link stalls for good.
      ['ip', ['-n', serverNs, 'link', 'set', 'to-router', 'gso_max_segs', '1']],
      ['ip', ['-n', serverNs, 'link', 'set', 'to-router', 'up']],
      ['ip', ['-n', routerNs, 'link', 'set', 'to-server', 'up']],
      ['ip', ['-n', routerNs, 'link', 'set', 'to-client', 'up']],
      ['ip', ['-n', clientNs, 'link', 'set', 'to-router', 'up']],
      ['ip', ['-n', serverNs, 'route', 'add', 'default', 'via', ROUTER_SERVER_SIDE]],
      ['ip', ['-n', clientNs, 'route', 'add', 'default', 'via', ROUTER_CLIENT_SIDE]],
      ['ip', ['netns', 'exec', routerNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']],
      ['tc', ['-n', routerNs, 'qdisc', 'add', 'dev', 'to-client', 'root', ...rateArgs(rateMbit, burstBytes, queueMs)]]
    )
    for (const [bin, args] of cmds) run(bin, args)
  } catch (err) {
    deleteAll()
    throw err
  }

  const bottleneck: Bottleneck = {
    serverNs,
    routerNs,
    clientNs,
    serverAddr: SERVER_ADDR,
    clientAddr: CLIENT_ADDR,
    get rateMbit () { return rateMbit },
    async setRate (mbit: number, burst?: number) {
      if (closed) throw new Error('bottleneck is closed')
      const nextBurst = burst ?? (opts.burstBytes === undefined ? undefined : burstBytes)
      run('tc', ['-n', routerNs, 'qdisc', 'replace', 'dev', 'to-client', 'root', ...rateArgs(mbit, nextBurst, queueMs)])
      rateMbit = mbit
      burstBytes = nextBurst
    },
    qdiscStats () {
      return run('tc', ['-n', routerNs, '-s', 'qdisc', 'show', 'dev', 'to-client'])
    },
    spawnIn (side, cmd, args, spawnOpts = {}) {
      if (closed) throw new Error('bottleneck is closed')
      const { stdio = 'pipe', ...rest } = spawnOpts
      const child = spawn(process.execPath, [WATCHDOG, 'ip', 'netns', 'exec', nsOf[side], cmd, ...args], {
        ...rest,
        stdio: ['pipe', stdio, stdio]
      })
      // Signalling a watchdog that has just exited must not throw.
      child.stdin!.on('error', () => {})
      children.add(child)
      child.once('exit', () => children.delete(child))
      return child
    },
    execIn (side, cmd, args) {
      return run('ip', ['netns', 'exec', nsOf[side], cmd, ...args])
    },
    async close () {
      if (closed) return
      closed = true
      const exits: Array<Promise<unknown>> = []
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue
        exits.push(once(child, 'exit'))
        child.stdin!.write('SIGKILL\n')
        child.stdin!.end()
      }
      await Promise.all(exits)
      deleteAll()
    }
  }
  if (opts.rttMs !== undefined && opts.rttMs > 0) {
    try {
      await startDelayLine(bottleneck, opts.rttMs / 2)
    } catch (err) {
      await bottleneck.close()
      throw err
    }
  }
  return bottleneck
}

async function startDelayLine (b: Bottleneck, oneWayMs: number): Promise<void> {
  const line = b.spawnIn('router', 'python3', ['-c', DELAY_LINE_PY, String(oneWayMs), DELAY_DEV])
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the delay line did not start within 10 s:\n${output}`)), 10_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (output.includes('ready\n')) {
        clearTimeout(timer)
        resolve()
      }
    }
    line.stdout!.on('data', onData)
    line.stderr!.on('data', onData)
    line.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the delay line (python3, /dev/net/tun) exited with ${code} during start-up:\n${output}`))
    })
  })
  // Packets coming in from either veth go to the TUN device; what the delay line writes back comes
  // in on the TUN device and is routed by the main table to the veth it was meant for.
  for (const args of [
    ['link', 'set', DELAY_DEV, 'up'],
    ['route', 'add', 'default', 'dev', DELAY_DEV, 'table', DELAY_TABLE],
    ['rule', 'add', 'iif', 'to-server', 'lookup', DELAY_TABLE],
    ['rule', 'add', 'iif', 'to-client', 'lookup', DELAY_TABLE]
  ]) run('ip', ['-n', b.routerNs, ...args])
}
