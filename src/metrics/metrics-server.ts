import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

/**
 * GET /metrics on a port of its own (METRICS_PORT), for anyone who can reach it: the operator
 * keeps the port off the public network. Anything else is a 404 in Lectern's error shape.
 */
export async function listenForScrapes (registry: Registry, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
        res.end(req.method === 'HEAD' ? undefined : text)
      }, (err: Error) => {
        const body = JSON.stringify({ statusCode: 500, code: 'LECTERN_ERR_INTERNAL', error: 'Internal Server Error', message: `metrics could not be collected: ${err.message.slice(0, 200)}` })
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      })
      return
    }
    const body = JSON.stringify({ statusCode: 404, code: 'LECTERN_ERR_ROUTE_NOT_FOUND', error: 'Not Found', message: 'This port serves GET /metrics only' })
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  return server
}

export function portOf (server: Server): number {
  return (server.address() as AddressInfo).port
}
