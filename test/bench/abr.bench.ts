import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { PolicyFactory } from '../../src/abr/abr-policy.js'
import { bola } from '../../src/abr/baselines/bola.js'
import { bufferBased } from '../../src/abr/baselines/buffer-based.js'
import { fixedLowest } from '../../src/abr/baselines/fixed-lowest.js'
import { hlsjsEwma } from '../../src/abr/baselines/hlsjs-ewma.js'
import { rateBased } from '../../src/abr/baselines/rate-based.js'
import { robustMpc } from '../../src/abr/baselines/robust-mpc.js'
import { lecternExact, lecternServerObserved } from '../../src/abr/lectern-policy.js'
import { videoSegments } from '../../src/abr/video-segments.js'
import { figures, OPTIMUM, runSuite, type SuiteResult } from './abr/abr-suite.js'
import { formatBenchResult, type BenchResult } from './bench-result.js'

// Trace-driven ABR benchmark: Lectern's estimator and rule fed what the server observes (send
// buffers of 64 KiB to 4 MiB, with and without the player's mtp; knowing each segment's size, as
// /adaptive_stream chooses, and with the rungs' nominal rates only) and fed exact samples, against the
// published baselines and the offline optimum, on a 48-segment video of the Pensieve ladder.

const here = dirname(fileURLToPath(import.meta.url))
const DEFAULT_SUITES = ['hsdpa-3g', 'fcc'].map((s) => resolve(here, '../../../shared/abr-traces', s))
const SEGMENTS = 48

export function policies (): PolicyFactory[] {
  const observed: PolicyFactory[] = []
  for (const segmentSizes of [false, true]) {
    for (const mtp of [false, true]) {
      for (const sendBufferBytes of [64 << 10, 256 << 10, 1 << 20, 4 << 20]) observed.push(lecternServerObserved({ sendBufferBytes, mtp, segmentSizes }))
    }
  }
  return [...observed, lecternExact, fixedLowest, bufferBased(5, 10), rateBased, hlsjsEwma, bola, robustMpc]
}

const BASELINES = new Set([fixedLowest.name, bufferBased().name, rateBased.name, hlsjsEwma.name, bola.name, robustMpc.name])

export async function measure (dirs: string[], progress = (line: string) => { process.stderr.write(line + '\n') }): Promise<SuiteResult[]> {
  const video = videoSegments(SEGMENTS)
  const out: SuiteResult[] = []
  for (const dir of dirs) out.push(await runSuite(dir, video, policies(), progress))
  return out
}

export function toJson (results: SuiteResult[]) {
  return {
    date: new Date().toISOString(),
    video: { segments: SEGMENTS, segmentSeconds: 4, ladderKbps: videoSegments(1).ladderKbps },
    suites: Object.fromEntries(results.map((r) => {
      const opt = r.totals.get(OPTIMUM)!
      return [r.suite, {
        traces: r.traces,
        heldOut: r.heldOut,
        algorithms: Object.fromEntries([...r.totals].map(([name, t]) => [name, {
          ...figures(t.all, opt.all),
          tuning: figures(t.tuning, opt.tuning),
          heldOut: figures(t.heldOut, opt.heldOut)
        }]))
      }]
    }))
  }
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`

export function toBenchResults (results: SuiteResult[]): BenchResult[] {
  return results.map((r) => {
    const opt = r.totals.get(OPTIMUM)!
    const rows = [...r.totals].map(([name, t]) => {
      const f = figures(t.all, opt.all)
      return {
        algorithm: name,
        'kbit/s': Math.round(f.avgBitrateKbps),
        rebuffer: pct(f.rebufferRatio),
        rebuffers: f.rebufferCount,
        switches: f.switches,
        QoE: f.qoe,
        'of optimum': f.qoeFractionOfOptimal.toFixed(3),
        tuning: figures(t.tuning, opt.tuning).qoeFractionOfOptimal.toFixed(3),
        'held out': figures(t.heldOut, opt.heldOut).qoeFractionOfOptimal.toFixed(3)
      }
    })
    const frac = (name: string) => figures(r.totals.get(name)!.all, opt.all).qoeFractionOfOptimal
    const bestBaseline = [...BASELINES].filter((n) => r.totals.has(n)).sort((a, b) => frac(b) - frac(a))[0]!
    const worst = (sizes: boolean) => {
      const observed = [...r.totals.keys()].filter((n) => n.includes('server-observed') && n.endsWith(', sizes') === sizes)
      const name = observed.sort((a, b) => frac(a) - frac(b))[0]
      return name === undefined ? [] : [`Lectern server-observed${sizes ? ', knowing segment sizes' : ''}, worst of ${observed.length} observation models: ${name} at ${frac(name).toFixed(3)}`]
    }
    return {
      name: `ABR on ${r.suite} (${r.traces} traces, ${r.heldOut.length} held out; QoE per session, fractions are ratios of summed QoE)`,
      rows,
      lines: [`best baseline: ${bestBaseline} at ${frac(bestBaseline).toFixed(3)} of the optimum`, ...worst(false), ...worst(true)]
    }
  })
}

/** For test/bench/run.ts: both default suites. */
export async function run (): Promise<BenchResult> {
  const results = toBenchResults(await measure(DEFAULT_SUITES))
  return { name: 'ABR', lines: results.map(formatBenchResult) }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { traces: { type: 'string', multiple: true }, json: { type: 'boolean', default: false } } })
  const dirs = values.traces !== undefined && values.traces.length > 0 ? values.traces.map((d) => resolve(d)) : DEFAULT_SUITES
  const started = Date.now()
  const results = await measure(dirs)
  if (values.json) process.stdout.write(JSON.stringify(toJson(results), null, 2) + '\n')
  else process.stdout.write(toBenchResults(results).map(formatBenchResult).join('\n\n') + '\n')
  process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`)
}
