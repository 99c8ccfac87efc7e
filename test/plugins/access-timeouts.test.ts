import t from 'tap'
import net from 'node:net'
import { buildTestApp } from '../helpers/app.js'
import { Writable } from 'node:stream'
import { registerAccount } from './accounts.js'
import { fakeVideo, multipartBody } from './multipart-body.js'

// A streaming server's timeouts: no bound on a whole request (a large upload on a slow line takes
// as long as it takes), but a connection on which nothing moves for HTTP_IDLE_TIMEOUT_S is cut, a
// stalled request body included. A client that goes away mid-upload is an expected event: one
// info line, no error with a stack.

const lines: Array<{ level: number, msg: string, err?: unknown }> = []
const stream = new Writable({
  write (chunk: Buffer, _encoding, callback) {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line))
    callback()
  }
})
const { app } = await buildTestApp(t, { HTTP_IDLE_TIMEOUT_S: '1' }, { logger: { level: 'info', stream } })
const address = await app.listen({ port: 0, host: '127.0.0.1' })
const { port } = new URL(address)
await registerAccount(app, 'admin')
const teacher = await registerAccount(app, 'teacher')
const SIZE = 512 * 1024
const { payload, headers } = multipartBody([{ name: 'title', value: 'Slow line' }, { name: 'file', filename: 'a.mp4', content: fakeVideo(SIZE) }])
const head = `POST /api/videos HTTP/1.1\r\nHost: x\r\nAuthorization: ${teacher.auth.authorization}\r\n` +
  `Content-Type: ${headers['content-type']!}\r\nContent-Length: ${payload.length}\r\n\r\n`

/** Sends the head and then the body in pieces, every `everyMs`, stopping after `stopAfter` bytes; resolves with what the server did. */
function send (everyMs: number, piece: number, stopAfter = Infinity): Promise<{ response: string, closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1')
    let response = ''
    let sent = 0
    let lastWrite = Date.now()
    socket.on('data', (d) => {
      response += d.toString()
      // An answer is all this needs: hang up once it has come.
      if (/\r\n\r\n/.test(response)) setTimeout(() => socket.destroy(), 50)
    })
    socket.on('error', () => {})
    socket.on('close', () => { clearInterval(timer); resolve({ response, closedAfterMs: Date.now() - lastWrite }) })
    socket.write(head)
    const timer = setInterval(() => {
      if (sent >= Math.min(payload.length, stopAfter)) return
      const next = payload.subarray(sent, Math.min(sent + piece, payload.length, stopAfter))
      sent += next.length
      lastWrite = Date.now()
      socket.write(next)
    }, everyMs)
    socket.on('timeout', () => reject(new Error('no answer')))
  })
}

t.test('a body that stalls is cut after HTTP_IDLE_TIMEOUT_S, and leaves nothing behind', async (t) => {
  const { response, closedAfterMs } = await send(50, 64 * 1024, 128 * 1024)
  t.notMatch(response, /^HTTP\/1\.1 202/, 'not accepted')
  t.ok(closedAfterMs >= 900 && closedAfterMs < 3000, `closed ${closedAfterMs} ms after the last byte`)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal((await app.storage.list('originals/')).length, 0, 'the partial original is removed')
  const errors = lines.filter((l) => l.level >= 50)
  t.same(errors.map((l) => l.msg), [], 'nothing logged as an error')
  const gone = lines.filter((l) => /went away|aborted|closed/i.test(l.msg))
  t.ok(gone.length >= 1 && gone.every((l) => l.level === 30 && l.err === undefined), 'one info line says the client went away: ' + JSON.stringify(gone.map((l) => l.msg)))
})

t.test('a slow body that keeps moving is not cut, however long it takes', async (t) => {
  // 512 KiB in 16 KiB pieces every 150 ms: about 5 s, five times the idle bound.
  const started = Date.now()
  const { response } = await send(150, 16 * 1024)
  t.ok(Date.now() - started > 4000, `took ${Date.now() - started} ms`)
  t.match(response, /^HTTP\/1\.1 202/, response.slice(0, 300))
})

t.test('the server\'s timeouts are set for streaming', async (t) => {
  t.equal(app.server.requestTimeout, 0, 'no bound on a whole request')
  t.equal(app.server.headersTimeout, 30_000)
  t.equal(app.server.keepAliveTimeout, 72_000)
  t.equal(app.server.timeout, 1000, 'the idle bound (HTTP_IDLE_TIMEOUT_S)')
})
