import type { FastifyInstance } from 'fastify'
import type { Role, User } from '../../src/db/documents.js'
import { USERS } from '../../src/db/user-repository.js'

export interface Account {
  id: string
  email: string
  role: Role
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

/**
 * Puts an account straight into the store (no password that signs in), for tests that forge its
 * access tokens: Lectern refuses a token whose account does not exist.
 */
export async function insertAccount (app: FastifyInstance, id: string, role: Role = 'teacher'): Promise<void> {
  await app.db.collection<User>(USERS).insertOne({
    _id: id, email: `${id}@example.org`, name: id, role, passwordHash: '', passwordSalt: '', createdAt: new Date()
  })
}
