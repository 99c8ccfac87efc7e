import t from 'tap'
import { runProcess, ProcessError, lastLines } from '../../transcoder/run-process.js'

t.test('an argument array, not a shell: metacharacters are just bytes', async (t) => {
  const r = await runProcess(process.execPath, ['-e', 'process.stdout.write(process.argv[1])', '$(touch /tmp/x); `id` | cat'], { timeoutMs: 10_000, captureStdout: true })
  t.equal(r.stdout, '$(touch /tmp/x); `id` | cat')
})

t.test('a failing exit rejects with the stderr tail in the message', async (t) => {
  const err = await runProcess(process.execPath, ['-e', 'console.error("first\\nthe reason"); process.exit(3)'], { timeoutMs: 10_000 }).catch((e: unknown) => e)
  t.ok(err instanceof ProcessError)
  t.equal((err as ProcessError).reason, 'exit')
  t.match((err as Error).message, /exited with 3: first \| the reason/)
})

t.test('the wall-clock timeout kills the child', async (t) => {
  const err = await runProcess(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 300 }).catch((e: unknown) => e)
  t.equal((err as ProcessError).reason, 'timeout')
  t.equal((err as ProcessError).result?.signal, 'SIGTERM')
})

t.test('abort: SIGTERM, then SIGKILL for a child that ignores it', async (t) => {
  const controller = new AbortController()
  const running = runProcess(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'], {
    timeoutMs: 30_000, signal: controller.signal, killGraceMs: 200,
    onStdout: () => controller.abort()
  })
  const err = await running.catch((e: unknown) => e)
  t.equal((err as ProcessError).reason, 'aborted')
  t.equal((err as ProcessError).result?.signal, 'SIGKILL')
})

t.test('a missing binary is a spawn failure', async (t) => {
  const err = await runProcess('/nonexistent/ffmpeg', [], { timeoutMs: 1000 }).catch((e: unknown) => e)
  t.equal((err as ProcessError).reason, 'spawn')
})

t.test('stderr tail lines', async (t) => {
  t.equal(lastLines('a\n\nb\nc\nd\ne\n'), 'b | c | d | e')
})

t.test('a timeout longer than Node\'s largest timer (about 24.8 days) does not kill the child early', async (t) => {
  // 300 s + 30 s per content second passes 2^31-1 ms at about 19.9 h of content; a plain
  // setTimeout would fire after 1 ms and kill a healthy encode.
  const r = await runProcess(process.execPath, ['-e', 'setTimeout(() => process.stdout.write("finished"), 300)'], { timeoutMs: 300_000 + 20 * 3600 * 30_000, captureStdout: true })
  t.equal(r.stdout, 'finished')
  t.equal(r.code, 0)
})
