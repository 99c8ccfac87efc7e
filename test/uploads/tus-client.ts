import { request as httpRequest, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, type BuildOptions } from '../../src/app.js'
import type { Config } from '../../src/config.js'
import { testConfig } from '../helpers/config.js'

// A tus 1.0 client by hand, over real sockets, for tests that need to stop mid-request.

export const TUS = { 'tus-resumable': '1.0.0' }

/** Upload-Metadata: comma-separated `key base64(value)` pairs (a null value sends the key alone). */
export function encodeMetadata (fields: Record<string, string | null>): string {
  return Object.entries(fields).map(([k, v]) => v === null ? k : `${k} ${Buffer.from(v).toString('base64')}`).join(',')
}

export interface Answer {
  status: number
  headers: IncomingMessage['headers']
  body: string
  json: () => any
}

/** One HTTP request on a fresh connection; the body is sent whole. */
export async function send (url: string, method: string, headers: Record<string, string | number>, body?: Buffer): Promise<Answer> {
  const req = httpRequest(url, { method, headers: { ...headers, connection: 'close' } })
  const response = once(req, 'response') as Promise<[IncomingMessage]>
  req.end(body)
  const [res] = await response
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString()
  return { status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) }
}

export interface TusTarget {
  origin: string
  token: string
}

export async function createUpload (target: TusTarget, length: number, metadata: Record<string, string | null>, extra: Record<string, string> = {}): Promise<Answer> {
  return await send(`${target.origin}/api/uploads`, 'POST', {
    ...TUS,
    authorization: `Bearer ${target.token}`,
    'upload-length': length,
    'upload-metadata': encodeMetadata(metadata),
    ...extra
  })
}

export async function headUpload (target: TusTarget, url: string): Promise<Answer> {
  return await send(url, 'HEAD', { ...TUS, authorization: `Bearer ${target.token}` })
}

export async function patchUpload (target: TusTarget, url: string, offset: number, bytes: Buffer): Promise<Answer> {
  return await send(url, 'PATCH', {
    ...TUS,
    authorization: `Bearer ${target.token}`,
    'upload-offset': offset,
    'content-type': 'application/offset+octet-stream',
    'content-length': bytes.length
  }, bytes)
}

/**
 * Starts a PATCH that declares `declared` bytes, writes `bytes`, and leaves the socket open:
 * the caller cuts it (socket.destroy()) to play a dropped connection.
 */
export async function startPatch (target: TusTarget, url: string, offset: number, declared: number, bytes: Buffer): Promise<Socket> {
  const u = new URL(url)
  const socket = connect(Number(u.port), u.hostname)
  await once(socket, 'connect')
  socket.on('error', () => {})
  socket.write(`PATCH ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer ${target.token}\r\n` +
    `Upload-Offset: ${offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${declared}\r\n\r\n`)
  for (let at = 0; at < bytes.length; at += 64 * 1024) {
    if (!socket.write(bytes.subarray(at, Math.min(bytes.length, at + 64 * 1024)))) await once(socket, 'drain')
  }
  return socket
}

/** The server's offset, asked until it stops moving (a cut PATCH is stored up to where it got). */
export async function settledOffset (target: TusTarget, url: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  let last = -1
  for (;;) {
    const head = await headUpload(target, url)
    if (head.status !== 200) throw new Error(`HEAD ${url}: ${head.status} ${head.body}`)
    const offset = Number(head.headers['upload-offset'])
    if (offset === last || Date.now() > deadline) return offset
    last = offset
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
}

export async function until (check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return await check()
}

/** Builds and listens on port 0; `patch` changes the Config (e.g. a short expiry) before the build. */
export async function listeningApp (t: Test, env: Record<string, string> = {}, patch: Partial<Config> = {}, options: BuildOptions = {}): Promise<{ app: FastifyInstance, config: Config, origin: string }> {
  const config = { ...await testConfig(t, env), ...patch }
  const app = await buildApp(config, { logger: false, ...options })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { app, config, origin: `http://127.0.0.1:${port}` }
}
