import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'

// The process entry: read config, build, listen, and close gracefully on SIGINT/SIGTERM
// (in-flight requests finish; clients and child processes are closed by their plugins' onClose).

let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`lectern: invalid configuration: ${err.message}\n`)
    process.exit(1)
  }
  throw err
}

let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp(config)
} catch (err) {
  // Another process on the same DATA_DIR is an operator's mistake, not a crash: one line, exit 1.
  if ((err as { code?: string }).code === 'LECTERN_ERR_DATA_DIR_IN_USE') {
    process.stderr.write(`lectern: cannot start: ${(err as Error).message}\n`)
    process.exit(1)
  }
  throw err
}
const CLOSE_GRACE_MS = 15_000

let closing = false
async function shutdown (signal: string): Promise<void> {
  if (closing) {
    app.log.warn({ signal }, 'second signal: exiting now')
    process.exit(1)
  }
  closing = true
  app.log.info({ signal }, 'shutting down: finishing in-flight requests')
  const force = setTimeout(() => {
    app.log.error('graceful close took too long; exiting')
    process.exit(1)
  }, CLOSE_GRACE_MS)
  force.unref()
  try {
    await app.close()
    process.exit(0)
  } catch (err) {
    app.log.error({ err }, 'error while closing')
    process.exit(1)
  }
}
process.on('SIGINT', () => { void shutdown('SIGINT') })
process.on('SIGTERM', () => { void shutdown('SIGTERM') })

try {
  await app.listen({ port: config.port, host: config.host })
} catch (err) {
  app.log.fatal({ err }, 'could not listen')
  await app.close().catch(() => {})
  process.exit(1)
}
