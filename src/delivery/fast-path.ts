import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { DUPLICATE_HOST, requestHeaderFlags } from '../request-header-flags.js'

/**
 * Puts `answer` ahead of Fastify's router: every request goes to it first, with what its header
 * fields hold (requestHeaderFlags), and only those it does not answer (it returns false) reach the
 * router. Only when the router is the server's one request listener; otherwise the server is left
 * as it is. From preClose on (Fastify answers 503 while closing) every request goes to the router.
 */
export function installFastPath (app: FastifyInstance, answer: (req: IncomingMessage, res: ServerResponse, headerFlags: number) => boolean): void {
  let accepting = true
  app.addHook('onReady', async function installFastPath () {
    const server = app.server
    const routing = server.listeners('request')
    if (routing.length !== 1) return
    const route = routing[0] as (req: IncomingMessage, res: ServerResponse) => void
    server.removeListener('request', route)
    server.on('request', function deliveryFastPath (req: IncomingMessage, res: ServerResponse) {
      if (!accepting) {
        route(req, res)
        return
      }
      const flags = requestHeaderFlags(req.rawHeaders)
      // Two Host fields: the router refuses them (400), whatever the path.
      if ((flags & DUPLICATE_HOST) !== 0 || !answer(req, res, flags)) route(req, res)
    })
  })
  app.addHook('preClose', async () => { accepting = false })
}

/** A URL the fast path may answer (see fastPathUrl). */
export interface FastPathUrl {
  /** The URL without its query. */
  path: string
  /** Where what follows `?sid=` starts in the URL (it runs to the end); -1 when there is no query. */
  sidAt: number
}

/**
 * A URL the fast path may answer: `/hls/...` with no query, or with nothing but `?sid=...`.
 * Undefined for anything else (escapes, other parameters). The session id is neither cut out nor
 * checked here: a request on a connection that named the same session before is matched to it in
 * place, and only another one is checked (SessionTracker.arrivedNamed).
 */
export function fastPathUrl (url: string | undefined): FastPathUrl | undefined {
  if (url === undefined || !url.startsWith('/hls/') || url.includes('%')) return undefined
  const q = url.indexOf('?')
  if (q === -1) return { path: url, sidAt: -1 }
  if (!url.startsWith('sid=', q + 1)) return undefined
  return { path: url.slice(0, q), sidAt: q + 5 }
}

/** The parts of a fast-path URL's path (see fastPathUrl): `/hls/<id>/<rendition>/<name>`, else undefined. */
export function fastPathParts (path: string): { id: string, rendition: string, name: string } | undefined {
  const parts = path.split('/')
  if (parts.length !== 5) return undefined
  return { id: parts[2]!, rendition: parts[3]!, name: parts[4]! }
}
