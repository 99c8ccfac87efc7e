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

const app = await buildApp(config)
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
