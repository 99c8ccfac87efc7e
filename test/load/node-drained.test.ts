import { readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { fakeVideo, multipartBody } from '../plugins/multipart-body.js'
import { requireMongoServer } from '../helpers/ferretdb-server.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { loadWhile, twoNodesBehindNginx } from './two-nodes.js'

// A node drained on SIGTERM behind nginx while viewers play: it finishes what it is answering and
// answers 503 to anything new while it closes, which nginx sends to the other node
// (proxy_next_upstream ... http_503), so no request fails and no viewer stalls; an upload whose
// body is still arriving on that node is taken whole before it exits.

requireToolsForFile(t, 'ffmpeg', 'nginx')

t.test('an API node drained on SIGTERM while viewers play through nginx: no failed request, no stall', { timeout: 180_000 }, async (t) => {
  if (!requireMongoServer(t)) return
  const { lb, ports, nodes, children, dataDir } = await twoNodesBehindNginx(t)
  const exited = new Promise<number | null>((resolve) => nodes[0]!.once('exit', (code) => resolve(code)))

  // A teacher's upload in flight on the node that is drained (nginx sent it there): its body
  // still trickles in when SIGTERM comes, and it must be taken whole, not cut.
  const registered = await fetch(`http://127.0.0.1:${ports[0]}/api/auth/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'teacher@example.org', password: 'correct horse battery', name: 'Teacher' })
  })
  t.equal(registered.status, 201, 'an account to upload with')
  const { token } = await registered.json() as { token: string }
  const file = fakeVideo(2 * 1024 * 1024)
  const { payload, headers } = multipartBody([{ name: 'title', value: 'Uploaded while its node drains' }, { name: 'file', filename: 'lecture.mp4', content: file }])
  let halfSent!: () => void
  const half = new Promise<void>((resolve) => { halfSent = resolve })
  const uploaded = new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ports[0], method: 'POST', path: '/api/videos', headers: { ...headers, 'content-length': String(payload.length), authorization: `Bearer ${token}` } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    const pieces = 20
    const step = Math.ceil(payload.length / pieces)
    let i = 0
    const next = (): void => {
      if (i === pieces / 2) halfSent()
      if (i >= pieces) { req.end(); return }
      req.write(payload.subarray(i * step, (i + 1) * step))
      i++
      setTimeout(next, 300)
    }
    next()
  })

  const run = await loadWhile(lb, 8, 12, 4, async () => { await half; nodes[0]!.kill('SIGTERM') }, children)
  t.equal(run.code, 0, 'the load test ran to its end', { stderr: run.stderr.slice(-2000) })
  t.comment(run.report)
  t.match(run.result, { viewers: 8, errors: 0, stalledViewers: 0 }, `${run.result?.requests} requests, none failed, no viewer stalled`)
  const answer = await uploaded
  t.equal(answer.status, 202, `the upload in flight when SIGTERM came was taken (${answer.body.slice(0, 200)})`)
  const id = (JSON.parse(answer.body) as { id: string }).id
  const original = await readFile(join(dataDir, 'objects', 'originals', id))
  t.ok(original.equals(file), 'and stored whole, byte for byte')
  t.equal(await exited, 0, 'the drained node exited cleanly')
  t.equal((await fetch(`http://127.0.0.1:${ports[1]}/health/live`)).status, 200, 'the other node is still up')
})
