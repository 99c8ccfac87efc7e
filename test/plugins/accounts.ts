import type { FastifyInstance } from 'fastify'

export interface Account {
  id: string
  email: string
  role: 'admin' | 'user'
  token: string
  auth: { authorization: string }
}

let counter = 0

/** Registers an account through the API (the first of an app is its admin). */
export async function registerAccount (app: FastifyInstance, name = 'user'): Promise<Account> {
  const email = `${name}-${++counter}@example.org`
  const res = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    // A distinct address per account keeps set-up clear of the per-IP rate limit.
    remoteAddress: `10.9.${counter >> 8 & 255}.${counter & 255}`,
    payload: { email, password: 'correct horse battery', name }
  })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  const body = res.json()
  return { id: body.user.id, email, role: body.user.role, token: body.token, auth: { authorization: `Bearer ${body.token}` } }
}
