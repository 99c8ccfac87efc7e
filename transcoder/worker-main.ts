import { parseArgs } from 'node:util'
import pino from 'pino'
import { loadConfig, ConfigError } from '../src/config.js'
import { openDatabase } from '../src/db/open-database.js'
import { createObjectStore } from '../src/storage/create-object-store.js'
import { Worker } from './worker.js'
import { checkTools } from './check-tools.js'
import { lecternRegistry } from '../src/metrics/lectern-registry.js'
import { listenForScrapes, portOf } from '../src/metrics/metrics-server.js'

// A transcode worker on its own (`npm run worker`), for the scaled-out topology: it shares the
// metadata store and object storage with the API nodes and needs nothing else.

const { values } = parseArgs({
  options: {
    // For tests and operators: tighter leases make a dead worker's job move on sooner.
    'lease-ms': { type: 'string' },
    'poll-ms': { type: 'string' },
    'backoff-ms': { type: 'string' }
  }
})

function positive (name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${name}: must be a whole number of milliseconds, got "${value}"`)
  return n
}

async function main (): Promise<void> {
  let config
  let leaseMs, pollIntervalMs, backoffBaseMs
  try {
    config = loadConfig()
    leaseMs = positive('lease-ms', values['lease-ms'])
    pollIntervalMs = positive('poll-ms', values['poll-ms'])
    backoffBaseMs = positive('backoff-ms', values['backoff-ms'])
  } catch (err) {
    process.stderr.write(`lectern worker: ${(err as Error).message}\n`)
    process.exit(1)
  }
  const log = pino({ level: config.logLevel, base: { component: 'transcoder', pid: process.pid } })
  // A worker without a working ffmpeg would fail every job after its retries: stop here, saying why.
  const tools = await checkTools(config)
  if (tools.problem !== null) {
    log.fatal({ detail: tools.logDetail }, `lectern worker: ${tools.problem}`)
    process.exit(1)
  }
  const storage = await createObjectStore(config, log)
  const db = await openDatabase(config, log)
  const worker = new Worker({ db, storage, config, log, leaseMs, pollIntervalMs, backoffBaseMs })
  // The worker has no API port: its metrics (Node's, storage calls, jobs) are on METRICS_PORT when set.
  const metrics = config.metricsPort > 0
    ? await listenForScrapes(lecternRegistry({ db, transcoding: () => worker.currentJob !== null }).registry, config.metricsPort, config.host)
    : undefined
  if (metrics !== undefined) log.info({ port: portOf(metrics) }, 'metrics: GET /metrics')

  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'worker stopping')
    // Stop ffmpeg, give the job back, then close clients; a second signal is not needed.
    metrics?.close()
    worker.stop()
      .then(async () => { await db.close(); await storage.close() })
      .then(() => { log.info('worker stopped'); process.exit(0) })
      .catch((err: unknown) => { log.error({ err }, 'worker did not stop cleanly'); process.exit(1) })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  worker.start()
  // The worker's timers are unref'd; this keeps the process alive until a signal arrives.
  setInterval(() => {}, 1 << 30)
}

main().catch((err: unknown) => {
  process.stderr.write(`lectern worker: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
