import { readdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { PolicyFactory } from '../../../src/abr/abr-policy.js'
import { parseTrace, type NetworkTrace } from '../../../src/abr/network-trace.js'
import { offlineOptimum } from '../../../src/abr/offline-optimum.js'
import { simulateSession, type SessionResult } from '../../../src/abr/simulate-session.js'
import type { VideoSegments } from '../../../src/abr/video-segments.js'

export const OPTIMUM = 'offline optimum'

export interface Totals {
  sessions: number
  qoe: number
  bitrateKbps: number
  segments: number
  stallS: number
  playS: number
  rebuffers: number
  switches: number
}

export interface Figures {
  avgBitrateKbps: number
  rebufferRatio: number
  rebufferCount: number
  switches: number
  /** Mean QoE per session. */
  qoe: number
  qoeFractionOfOptimal: number
}

export interface SuiteResult {
  suite: string
  traces: number
  heldOut: string[]
  /** algorithm -> totals over all traces, the tuning traces and the held-out ones */
  totals: Map<string, { all: Totals, tuning: Totals, heldOut: Totals }>
}

const empty = (): Totals => ({ sessions: 0, qoe: 0, bitrateKbps: 0, segments: 0, stallS: 0, playS: 0, rebuffers: 0, switches: 0 })

function add (t: Totals, r: SessionResult): void {
  t.sessions++
  t.qoe += r.qoe
  t.bitrateKbps += r.bitrateSumKbps
  t.segments += r.rungs.length
  t.stallS += r.stallTotalS
  t.playS += r.playS
  t.rebuffers += r.rebufferCount
  t.switches += r.switches
}

export function figures (t: Totals, optimum: Totals): Figures {
  return {
    avgBitrateKbps: t.bitrateKbps / t.segments,
    rebufferRatio: t.stallS / (t.stallS + t.playS),
    rebufferCount: t.rebuffers / t.sessions,
    switches: t.switches / t.sessions,
    qoe: t.qoe / t.sessions,
    qoeFractionOfOptimal: t.qoe / optimum.qoe
  }
}

/** Traces of a folder, sorted by name; every 4th (index 3, 7, ...) is held out of any tuning. */
export async function loadSuite (dir: string): Promise<Array<{ trace: NetworkTrace, heldOut: boolean }>> {
  const names = (await readdir(dir)).filter((f) => !f.startsWith('.') && !/^(readme|license)/i.test(f)).sort()
  const out: Array<{ trace: NetworkTrace, heldOut: boolean }> = []
  for (const [i, name] of names.entries()) {
    out.push({ trace: parseTrace(await readFile(join(dir, name), 'utf8'), name), heldOut: i % 4 === 3 })
  }
  return out
}

/** Every policy and the optimum over every trace of a folder. */
export async function runSuite (dir: string, video: VideoSegments, policies: PolicyFactory[], progress: (line: string) => void): Promise<SuiteResult> {
  const suite = basename(dir)
  const traces = await loadSuite(dir)
  const totals = new Map<string, { all: Totals, tuning: Totals, heldOut: Totals }>()
  const record = (name: string, heldOut: boolean, r: SessionResult) => {
    let entry = totals.get(name)
    if (entry === undefined) totals.set(name, (entry = { all: empty(), tuning: empty(), heldOut: empty() }))
    add(entry.all, r)
    add(heldOut ? entry.heldOut : entry.tuning, r)
  }
  const started = Date.now()
  for (const [i, { trace, heldOut }] of traces.entries()) {
    record(OPTIMUM, heldOut, offlineOptimum(trace, video))
    for (const p of policies) record(p.name, heldOut, simulateSession(trace, video, p.create()))
    if ((i + 1) % 10 === 0 || i + 1 === traces.length) progress(`${suite}: ${i + 1}/${traces.length} traces, ${((Date.now() - started) / 1000).toFixed(0)} s`)
    // let the event loop breathe on a long run (stderr writes)
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { suite, traces: traces.length, heldOut: traces.filter((t) => t.heldOut).map((t) => t.trace.name), totals }
}
