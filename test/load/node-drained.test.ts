import t from 'tap'
import { requireMongoServer } from '../helpers/ferretdb-server.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { loadWhile, twoNodesBehindNginx } from './two-nodes.js'

// A node drained on SIGTERM behind nginx while viewers play: it finishes what it is answering and
// answers 503 to anything new while it closes, which nginx sends to the other node
// (proxy_next_upstream ... http_503), so no request fails and no viewer stalls.

requireToolsForFile(t, 'ffmpeg', 'nginx')

t.test('an API node drained on SIGTERM while viewers play through nginx: no failed request, no stall', { timeout: 180_000 }, async (t) => {
  if (!requireMongoServer(t)) return
  const { lb, ports, nodes, children } = await twoNodesBehindNginx(t)
  const exited = new Promise<number | null>((resolve) => nodes[0]!.once('exit', (code) => resolve(code)))
  const run = await loadWhile(lb, 8, 12, 4, () => { nodes[0]!.kill('SIGTERM') }, children)
  t.equal(run.code, 0, 'the load test ran to its end', { stderr: run.stderr.slice(-2000) })
  t.comment(run.report)
  t.match(run.result, { viewers: 8, errors: 0, stalledViewers: 0 }, `${run.result?.requests} requests, none failed, no viewer stalled`)
  t.equal(await exited, 0, 'the drained node exited cleanly')
  t.equal((await fetch(`http://127.0.0.1:${ports[1]}/health/live`)).status, 200, 'the other node is still up')
})
