import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { tempDir } from './helpers/config.js'
import { childEnv } from './helpers/child-env.js'

const execFileAsync = promisify(execFile)
const root = fileURLToPath(new URL('..', import.meta.url))

// V8's own view of String.prototype (%HasFastProperties, with --allow-natives-syntax), in a child
// process: before the app is built (every module loaded), after, and after it has answered requests.
const probe = `
const fast = new Function('o', 'return %HasFastProperties(o)')
const { loadConfig } = await import('./src/config.ts')
const { buildApp } = await import('./src/app.ts')
const loaded = fast(String.prototype)
const app = await buildApp(loadConfig({ DATA_DIR: process.env.PROBE_DIR, LOG_LEVEL: 'silent', WORKER: 'off' }), { logger: false })
const built = fast(String.prototype)
for (let i = 0; i < 50; i++) await app.inject('/hls/nothing/r64k/segment-00000.ts?sid=someSession0000001')
await app.inject('/health/ready')
const served = fast(String.prototype)
await app.close()
console.log(JSON.stringify({ loaded, built, served }))
`

t.test('String.prototype is in V8\'s fast mode once the app is built, and stays so', async (t) => {
  const dir = await tempDir(t)
  const { stdout } = await execFileAsync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', probe], {
    cwd: root, env: childEnv({ PROBE_DIR: dir }), timeout: 60_000
  })
  const seen = JSON.parse(stdout.trim().split('\n').at(-1)!) as { loaded: boolean, built: boolean, served: boolean }
  // The cause: loading the modules (ioredis's String subclass) leaves it slow. Should this ever be
  // true, the dependency changed and keepStringPrototypeFast() may go.
  t.equal(seen.loaded, false, 'slow once every module is loaded (ioredis: class VerbatimString extends String)')
  t.equal(seen.built, true, 'fast once the app is built')
  t.equal(seen.served, true, 'still fast after answering requests')
})
