import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../helpers/config.js'
import { childEnv } from '../helpers/child-env.js'

// A second Lectern process on the same DATA_DIR (embedded store) stops with the one line the
// README promises, not an uncaught stack trace.

const serverEntry = fileURLToPath(new URL('../../src/server.ts', import.meta.url))

function start (dataDir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', serverEntry], {
    env: childEnv({ DATA_DIR: dataDir, PORT: '0', WORKER: 'off' }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, exited, output: () => ({ stdout, stderr }) }
}

t.test('a second process on the same DATA_DIR exits 1 with one line', async (t) => {
  const dir = await tempDir(t)
  const first = start(dir)
  t.teardown(() => { first.child.kill('SIGKILL') })
  const started = Date.now()
  while (!/Server listening/.test(first.output().stdout)) {
    if (Date.now() - started > 30_000) throw new Error(`the first process did not start: ${first.output().stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const second = start(dir)
  const [code] = await second.exited
  t.equal(code, 1)
  const { stderr } = second.output()
  t.match(stderr, new RegExp(`^lectern: cannot start: .* is in use by process ${first.child.pid!} \\(since [^)]+\\)\\..*MONGODB_URL.*\\n$`))
  t.equal(stderr.split('\n').length, 2, 'one line: ' + stderr)
  t.notMatch(stderr, /\n\s+at /, 'no stack trace')
  first.child.kill('SIGTERM')
  t.same(await first.exited, [0, null], 'the first goes on and stops cleanly')
})
