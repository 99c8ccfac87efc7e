import { writeFileSync, readFileSync, existsSync } from 'node:fs'
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PolicyFactory } from '../../../src/abr/abr-policy.js'
import { offlineOptimum } from '../../../src/abr/offline-optimum.js'
import { simulateSession } from '../../../src/abr/simulate-session.js'
import { videoSegments } from '../../../src/abr/video-segments.js'
import { loadSuite } from './abr-suite.js'

// Tuning harness: runs policies over the TUNING traces only (held-out ones never), the optimum
// cached in /tmp. Usage: node --import tsx test/bench/abr/tune.ts  (edit the candidates below).
const here = dirname(fileURLToPath(import.meta.url))
const video = videoSegments(48)

export async function tuningSets () {
  const sets = []
  for (const suite of ['hsdpa-3g', 'fcc']) {
    const traces = (await loadSuite(resolve(here, '../../../../shared/abr-traces', suite))).filter((t) => !t.heldOut).map((t) => t.trace)
    const cache = `/tmp/abr-opt-${suite}.json`
    let opt: number[]
    if (existsSync(cache)) opt = JSON.parse(readFileSync(cache, 'utf8')) as number[]
    else {
      opt = traces.map((t) => offlineOptimum(t, video).qoe)
      writeFileSync(cache, JSON.stringify(opt))
    }
    sets.push({ suite, traces, optSum: opt.reduce((a, b) => a + b, 0) })
  }
  return sets
}

export async function score (policies: PolicyFactory[]) {
  const sets = await tuningSets()
  for (const p of policies) {
    const out = sets.map(({ suite, traces, optSum }) => {
      let q = 0
      let stall = 0
      let sw = 0
      let br = 0
      for (const t of traces) {
        const r = simulateSession(t, video, p.create())
        q += r.qoe
        stall += r.stallTotalS
        sw += r.switches
        br += r.bitrateSumKbps / r.rungs.length
      }
      return `${suite} ${(q / optSum).toFixed(3)} (${(br / traces.length).toFixed(0)}k, stall ${(stall / traces.length).toFixed(1)} s, sw ${(sw / traces.length).toFixed(1)})`
    })
    console.log(p.name.padEnd(50), out.join('  '))
  }
}
