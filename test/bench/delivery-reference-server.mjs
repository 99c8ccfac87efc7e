import { createReadStream, readFileSync, statSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import { join, normalize } from 'node:path'
import Fastify from 'fastify'
import fastifyStatic from '@fastify/static'

// The reference servers of the delivery benchmark, each run in a process of its own. Plain
// JavaScript, run by node itself: a TypeScript loader (tsx keeps function names by wrapping every
// closure it creates in a defineProperty call) would slow them down, and Lectern is measured as
// `npm start` runs it, from tsc's build.
//   static <root>:        @fastify/static with its defaults (ranges, ETag, Last-Modified)
//   pipe <root>:          node:http piping fs.createReadStream for exactly the requested single range
//   buffer <root> <path>...: node:http answering each listed file from a Buffer read at start, with
//                         the headers of a cached segment (type, length, ETag, Last-Modified,
//                         Accept-Ranges, Cache-Control) precomputed: the floor of a Node server's cost
// Prints `listening <port>` once it accepts connections on 127.0.0.1.
const [mode, root, ...files] = process.argv.slice(2)
if ((mode !== 'static' && mode !== 'pipe' && mode !== 'buffer') || root === undefined) {
  process.stderr.write('usage: delivery-reference-server.mjs static|pipe|buffer <root> [url path...]\n')
  process.exit(2)
}

function listening (port) {
  process.stdout.write(`listening ${port}\n`)
}

if (mode === 'static') {
  const app = Fastify({ logger: false })
  await app.register(fastifyStatic, { root })
  await app.listen({ port: 0, host: '127.0.0.1' })
  listening(app.server.address().port)
} else if (mode === 'pipe') {
  const server = http.createServer(function answer (req, res) {
    const path = join(root, normalize(decodeURIComponent((req.url ?? '/').split('?')[0])))
    stat(path).then(function found (st) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
      const start = m === null ? 0 : Number(m[1])
      const end = m === null ? st.size - 1 : Math.min(Number(m[2]), st.size - 1)
      res.writeHead(m === null ? 200 : 206, {
        'content-type': 'application/octet-stream',
        'content-length': end - start + 1,
        ...(m === null ? {} : { 'content-range': `bytes ${start}-${end}/${st.size}` })
      })
      createReadStream(path, { start, end }).pipe(res)
    }, function missing () {
      res.writeHead(404).end()
    })
  })
  server.listen(0, '127.0.0.1', () => listening(server.address().port))
} else {
  const held = new Map()
  for (const file of files) {
    const path = join(root, normalize(file))
    const body = readFileSync(path)
    const st = statSync(path)
    const headers = [
      'content-type', 'video/mp2t',
      'content-length', String(body.byteLength),
      'etag', `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
      'last-modified', st.mtime.toUTCString(),
      'accept-ranges', 'bytes',
      'cache-control', 'public, max-age=31536000, immutable'
    ]
    held.set(file, { body, headers })
  }
  const server = http.createServer(function answer (req, res) {
    const entry = held.get(req.url)
    if (entry === undefined) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, entry.headers)
    res.end(req.method === 'HEAD' ? undefined : entry.body)
  })
  server.listen(0, '127.0.0.1', () => listening(server.address().port))
}
