import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { findWebRoot, HLS_SCRIPT_PATH } from '../../plugins/web.js'

const PAGES = ['/', '/upload', '/search?q=x', '/watch/0123456789abcdef0123', '/me']

t.test('pages are served under a strict CSP that leaves the API, /docs and media alone', async (t) => {
  const { app } = await buildTestApp(t, { UPLOAD_MAX_MB: '7' })
  for (const url of PAGES) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], /^text\/html/, `${url} is HTML`)
    const csp = String(res.headers['content-security-policy'])
    t.match(csp, /script-src 'self';/, `${url}: scripts from this origin only`)
    t.match(csp, /style-src 'self';/, `${url}: styles from this origin only`)
    t.match(csp, /worker-src 'self' blob:;/, `${url}: hls.js may start its worker`)
    t.match(csp, /media-src 'self' blob:;/, `${url}: MediaSource URLs play`)
    t.match(csp, /connect-src 'self';/)
    t.notMatch(csp, /unsafe|upgrade-insecure-requests/, `${url}: nothing unsafe, and plain HTTP on a school network keeps working`)
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['cache-control'], 'no-cache')
  }
  for (const url of ['/api/search', '/health/live', '/docs/json']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['content-security-policy'], undefined, `${url} gets no page CSP`)
  }
  const docs = await app.inject({ url: '/docs/static/index.html' })
  t.equal(docs.headers['content-security-policy'], undefined, 'the swagger UI keeps its own headers')

  const config = await app.inject({ url: '/assets/config.json' })
  t.same(config.json(), { uploadMaxBytes: 7 * 1024 * 1024, hlsScript: HLS_SCRIPT_PATH }, 'the upload page learns the size limit')
  const hls = await app.inject({ url: HLS_SCRIPT_PATH, headers: { 'accept-encoding': 'gzip' } })
  t.equal(hls.statusCode, 200)
  t.match(hls.headers['content-type'], /javascript/)
  t.equal(hls.headers['content-encoding'], 'gzip', 'the player script is sent compressed')
  t.equal(hls.headers['cache-control'], 'public, max-age=31536000, immutable', 'the versioned player script is kept for good')
  t.equal((await app.inject({ url: '/assets/nope.js' })).statusCode, 404)
  t.equal((await app.inject({ url: '/assets/../package.json' })).statusCode, 404, 'nothing outside the assets folder')
})

t.test('every page names only same-origin assets that exist, with no inline script or style', async (t) => {
  const { app } = await buildTestApp(t)
  for (const url of PAGES) {
    const html = (await app.inject({ url })).body
    t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, `${url}: no inline script`)
    t.notMatch(html, /<style|\sstyle=|\son[a-z]+=/i, `${url}: no inline style or event handler`)
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((r) => r.startsWith('/assets/'))
    t.ok(refs.length >= 3, `${url} loads its stylesheet, icon and script`)
    for (const ref of refs) t.equal((await app.inject({ url: ref })).statusCode, 200, `${url} -> ${ref}`)
    t.notMatch(html, /(?:src|href)="(?:https?:)?\/\//, `${url}: nothing from another origin`)
  }
  // Each script's imports exist too.
  const js = await app.inject({ url: '/assets/js/watch.js' })
  for (const m of js.body.matchAll(/from '\.\/([a-z-]+\.js)'/g)) {
    t.equal((await app.inject({ url: `/assets/js/${m[1]!}` })).statusCode, 200, `watch.js imports ${m[1]!}`)
  }
})

t.test('the pages are found from the sources (tsx) and from the build (dist/plugins)', async (t) => {
  const repo = join(fileURLToPath(import.meta.url), '..', '..', '..')
  t.equal(findWebRoot(join(repo, 'plugins')), join(repo, 'src', 'web'))
  t.equal(findWebRoot(join(repo, 'dist', 'plugins')), join(repo, 'src', 'web'))
  t.equal(findWebRoot('/nonexistent/plugins'), undefined, 'missing files are reported, not thrown')
})
