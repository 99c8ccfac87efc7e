import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { requireMongoServer } from '../helpers/ferretdb-server.js'
import { requireToolsForFile } from '../helpers/requirements.js'
import { loadWhile, twoNodesBehindNginx } from './two-nodes.js'

// A fault survived with nothing lost: viewers play through nginx (the repository's nginx.conf) in
// front of two API nodes, and one node is SIGKILLed mid-run. nginx sends the idempotent requests
// that failed on it to the other node (proxy_next_upstream), so no viewer sees a failed request
// and playback does not stall.

requireToolsForFile(t, 'ffmpeg', 'nginx')

t.test('an API node SIGKILLed while viewers play through nginx: no failed request, no stall', { timeout: 180_000 }, async (t) => {
  if (!requireMongoServer(t)) return
  const { lb, ports, nodes, nginxDir, children } = await twoNodesBehindNginx(t)
  let killedAt = 0
  // Mid-run: the viewers are playing, seekers and searchers busy.
  const run = await loadWhile(lb, 8, 12, 4, () => {
    nodes[0]!.kill('SIGKILL')
    killedAt = Date.now()
  }, children)
  t.equal(run.code, 0, 'the load test ran to its end', { stderr: run.stderr.slice(-2000) })
  t.ok(nodes[0]!.signalCode === 'SIGKILL', 'the first node was killed')
  t.comment(run.report)
  t.match(run.result, { viewers: 8, errors: 0, stalledViewers: 0 }, `${run.result?.requests} requests, none failed, no viewer stalled`)
  t.ok(Date.now() - killedAt > 5000, 'the load went on for seconds after the kill')
  const log = await readFile(join(nginxDir, 'logs/error.log'), 'utf8')
  t.match(log, new RegExp(`upstream: "http://127\\.0\\.0\\.1:${ports[0]}`), 'nginx met the dead node and went on to the other')
  t.equal((await fetch(`http://127.0.0.1:${ports[1]}/health/live`)).status, 200, 'the other node is still up')
})
