import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply } from 'fastify'
import fastifyStatic from '@fastify/static'
import helmet from '@fastify/helmet'
import compress from '@fastify/compress'

const require = createRequire(import.meta.url)
const HLS_VERSION = (require('hls.js/package.json') as { version: string }).version
const HLS_DIST = dirname(require.resolve('hls.js/dist/hls.min.js'))
/** The player script's URL carries its version, so browsers may keep it for good. */
export const HLS_SCRIPT_PATH = `/assets/vendor/hls-${HLS_VERSION}.min.js`

/**
 * src/web holds plain HTML, CSS and ES modules (nothing to compile), so the same folder serves
 * whether this file runs from plugins/ (tsx) or from dist/plugins/ (npm start).
 */
export function findWebRoot (from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  return [join(from, '..', 'src', 'web'), join(from, '..', '..', 'src', 'web')]
    .find((candidate) => existsSync(join(candidate, 'index.html')))
}

const PAGES = {
  '/': 'index.html',
  '/upload': 'upload.html',
  '/search': 'search.html',
  '/watch/:id': 'watch.html',
  '/me': 'me.html'
} as const

/**
 * The pages and their assets, under a strict Content-Security-Policy: everything from this
 * origin, no inline script or style; hls.js needs blob: for its worker and MediaSource URLs.
 * Encapsulated, so the CSP and compression apply to these routes only, not to the JSON API,
 * /docs or the byte-serving routes.
 */
async function webRoutes (app: FastifyInstance): Promise<void> {
  const root = findWebRoot()
  if (root === undefined) {
    // An image built without src/web still serves the API and media; say why / is empty.
    app.log.warn('the web UI files (src/web) are not installed next to the code: the pages are not served')
    return
  }
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        mediaSrc: ["'self'", 'blob:'],
        workerSrc: ["'self'", 'blob:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        scriptSrcAttr: ["'none'"]
      }
    },
    // Lectern is often reached over plain HTTP on a school network: do not pin HTTPS from here.
    strictTransportSecurity: false
  })
  await app.register(compress, { threshold: 1024 })
  await app.register(fastifyStatic, {
    root: join(root, 'assets'),
    prefix: '/assets/',
    index: false,
    cacheControl: false,
    // File names carry no hash: revalidate (ETag) rather than keep stale code. The versioned player is the exception.
    setHeaders: (reply, path) => { if (!path.startsWith(HLS_DIST)) reply.header('cache-control', 'no-cache') }
  })

  const page = (file: string) => async (_request: unknown, reply: FastifyReply) => {
    reply.header('cache-control', 'no-cache')
    return reply.sendFile(file, root)
  }
  for (const [url, file] of Object.entries(PAGES)) {
    app.get(url, { schema: { hide: true } }, page(file))
  }

  app.get(HLS_SCRIPT_PATH, { schema: { hide: true } }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=31536000, immutable')
    return reply.sendFile('hls.min.js', HLS_DIST)
  })

  // What the upload page needs to know before it sends a byte.
  app.get('/assets/config.json', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('cache-control', 'no-cache')
    return { uploadMaxBytes: app.config.uploadMaxBytes, hlsScript: HLS_SCRIPT_PATH }
  })
}

export default fp(async function webPlugin (app) {
  await app.register(webRoutes)
}, { fastify: '5.x', name: 'lectern-web' })
