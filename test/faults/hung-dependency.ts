import { readFile } from 'node:fs/promises'
import { call, type Answer } from './fault-client.js'
import type { Test } from 'tap'

// What the tests of a hung dependency (a server SIGSTOPped: connections accepted, nothing
// answered) share: answers timed against the bound Lectern is configured with, and a count of
// the connections held open to the server.

/**
 * Added to a configured timeout before an answer counts as a hang. Not a speed requirement: on a
 * loaded 2-core CI machine the process that waits also has to be scheduled, TLS-free loopback
 * connects can queue behind other tests, and timers fire late by up to a second or two. A real hang
 * is unbounded (the HANG_MS of call() catches it at 40 s), so a few seconds of slack tell the two
 * apart without flaking.
 */
export const SCHEDULING_MARGIN_MS = 5000

export interface TimedAnswer extends Answer {
  ms: number
}

/** One request through call(), with how long its answer took. */
export async function timedCall (base: string, path: string, init: RequestInit = {}): Promise<TimedAnswer> {
  const started = performance.now()
  const res = await call(base, path, init)
  return { ...res, ms: Math.round(performance.now() - started) }
}

/**
 * TCP connections in ESTABLISHED state whose remote end is 127.0.0.1:port, from /proc/net/tcp:
 * the clients' side of connections to a server on that port. The server's own side has the port
 * as its local one, so it is not counted; this test process is the only client.
 */
export async function establishedTo (port: number): Promise<number> {
  const table = await readFile('/proc/net/tcp', 'utf8')
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  let n = 0
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/)
    if (cols[2] === remote && cols[3] === '01') n++
  }
  return n
}

/** The port of a mongodb:// or http:// URL on 127.0.0.1. */
export function portOf (url: string): number {
  const m = /127\.0\.0\.1:(\d+)/.exec(url)
  if (m === null) throw new Error(`no 127.0.0.1 port in ${url}`)
  return Number(m[1])
}

/**
 * `/health/ready` while `away` hangs: answered within its probes' 2 s (plus slack), 503, `away`
 * down and `other` ok, and an outage of `away` going on, seen as `seen`.
 */
export async function readyWhileHung (t: Test, base: string, away: 'database' | 'storage', other: 'database' | 'storage', seen: RegExp): Promise<void> {
  const ready = await timedCall(base, '/health/ready')
  t.comment(`/health/ready while hung: ${ready.status} in ${ready.ms} ms: ${JSON.stringify(ready.json?.dependencies)} ${JSON.stringify(ready.json?.outages[away])}`)
  t.equal(ready.status, 503, `not ready while ${away} does not answer`)
  t.equal(ready.json?.dependencies[away], 'down')
  t.equal(ready.json?.dependencies[other], 'ok')
  t.equal(ready.json?.outages[away][0]?.to, null, 'an outage going on')
  t.match(ready.json?.outages[away][0]?.error, seen, 'seen as a timeout')
  t.ok(ready.ms < 2000 + SCHEDULING_MARGIN_MS, `/health/ready answered in ${ready.ms} ms (its probes time out after 2 s)`)
}
