import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'

/** Listens on a free loopback port for the test; returns the base URL. */
export async function listen (t: Test, app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return `http://127.0.0.1:${address.port}`
}

export interface Answer { status: number, headers: Headers, text: string, json: any }

async function answer (res: Response): Promise<Answer> {
  const text = await res.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, headers: res.headers, text, json }
}

/** POST /api/videos/:id/captions as multipart over HTTP. */
export async function uploadCaptions (base: string, id: string, file: string | Uint8Array, fields: Record<string, string>, auth?: { authorization: string }, name = 'captions.vtt'): Promise<Answer> {
  const form = new FormData()
  for (const [k, v] of Object.entries(fields)) form.append(k, v)
  form.append('file', new Blob([typeof file === 'string' ? Buffer.from(file) : file]), name)
  return await answer(await fetch(`${base}/api/videos/${id}/captions`, { method: 'POST', body: form, headers: auth }))
}

export async function get (base: string, path: string, headers?: Record<string, string>): Promise<Answer> {
  return await answer(await fetch(base + path, { headers }))
}

export async function del (base: string, path: string, headers?: Record<string, string>): Promise<Answer> {
  return await answer(await fetch(base + path, { method: 'DELETE', headers }))
}
