import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import { join, normalize } from 'node:path'
import Fastify from 'fastify'
import fastifyStatic from '@fastify/static'

// The reference servers of the delivery benchmark, each run in a process of its own:
//   static <root>: @fastify/static with its defaults (ranges, ETag, Last-Modified)
//   pipe <root>:   node:http piping fs.createReadStream for exactly the requested single range
// Prints `listening <port>` once it accepts connections on 127.0.0.1.
const [mode, root] = process.argv.slice(2)
if ((mode !== 'static' && mode !== 'pipe') || root === undefined) {
  process.stderr.write('usage: delivery-reference-server.ts static|pipe <root>\n')
  process.exit(2)
}

if (mode === 'static') {
  const app = Fastify({ logger: false })
  await app.register(fastifyStatic, { root })
  await app.listen({ port: 0, host: '127.0.0.1' })
  process.stdout.write(`listening ${(app.server.address() as { port: number }).port}\n`)
} else {
  const server = http.createServer((req, res) => {
    const path = join(root, normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!)))
    stat(path).then((st) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
      const start = m === null ? 0 : Number(m[1])
      const end = m === null ? st.size - 1 : Math.min(Number(m[2]), st.size - 1)
      res.writeHead(m === null ? 200 : 206, {
        'content-type': 'application/octet-stream',
        'content-length': end - start + 1,
        ...(m === null ? {} : { 'content-range': `bytes ${start}-${end}/${st.size}` })
      })
      createReadStream(path, { start, end }).pipe(res)
    }, () => {
      res.writeHead(404).end()
    })
  })
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`)
  })
}
