import fp from 'fastify-plugin'
import { z } from 'zod'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { ROLES, type User } from '../src/db/documents.js'
import { BadRequestError, ForbiddenError, NotFoundError } from '../src/errors.js'
import { hashPassword } from '../src/auth/password.js'
import { countAdmins, createUser, deleteUser, findUserById, listUsers, roleOf, setUserRole, toPublicUser } from '../src/db/user-repository.js'
import { revokeRefreshTokensOf } from '../src/db/refresh-token-repository.js'
import { createInvitation, deleteInvitation, listInvitations } from '../src/db/invitation-repository.js'
import { decodeCursor, encodeCursor } from '../src/api/opaque-cursor.js'
import { errorSchema } from '../src/api/error-schema.js'
import { emailSchema, nameSchema, passwordSchema, publicUserSchema } from './auth.js'

const idParams = z.object({ id: z.string().min(1).max(64) })
const roleSchema = z.enum(ROLES, { error: 'must be admin, teacher or student' })

const invitationView = z.object({
  id: z.string(),
  role: roleSchema,
  note: z.string().nullable(),
  createdAt: z.string(),
  expiresAt: z.string(),
  usedAt: z.string().nullable(),
  usedBy: z.string().nullable()
})

/**
 * Accounts and invitations, for admins: list accounts, create one (with any role), change a role
 * (in effect on the next request, on every node within a second), delete an account (its
 * tokens stop working at once; its videos stay, for an admin to keep or delete); invitations are
 * single-use links with an expiry that let one person register with a given role.
 */
export default fp(async function accountsPlugin (fastify) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { config } = app
  const adminOnly = [app.authenticate, app.requireRole('admin')]

  app.get('/api/users', {
    preHandler: adminOnly,
    schema: {
      tags: ['accounts'],
      summary: 'Every account, oldest first (admin)',
      security: [{ bearerAuth: [] }],
      querystring: z.object({
        limit: z.coerce.number().int().min(1).max(200).default(50),
        cursor: z.string().max(200).optional()
      }),
      response: { 200: z.object({ items: z.array(publicUserSchema), nextCursor: z.string().nullable() }), 401: errorSchema, 403: errorSchema }
    }
  }, async (request, reply) => {
    const { limit, cursor } = request.query
    let after
    if (cursor !== undefined) {
      const c = decodeCursor(cursor, { c: 'number', id: 'string' })
      after = { createdAt: new Date(c.c as number), id: c.id as string }
    }
    const found = await listUsers(app.db, limit, after)
    const items = found.slice(0, limit)
    const last = items[items.length - 1]
    reply.header('cache-control', 'no-store')
    return {
      items: items.map(toPublicUser),
      nextCursor: found.length > limit && last !== undefined ? encodeCursor({ c: last.createdAt.getTime(), id: last._id }) : null
    }
  })

  app.post('/api/users', {
    preHandler: adminOnly,
    schema: {
      tags: ['accounts'],
      summary: 'Create an account (admin), whatever REGISTRATION says',
      security: [{ bearerAuth: [] }],
      body: z.object({ email: emailSchema, password: passwordSchema, name: nameSchema, role: roleSchema.optional() }),
      response: { 201: z.object({ user: publicUserSchema }), 400: errorSchema, 401: errorSchema, 403: errorSchema, 409: errorSchema }
    }
  }, async (request, reply) => {
    const { email, password, name, role } = request.body
    const { hash, salt } = await hashPassword(password)
    const user = await createUser(app.db, { email, name, passwordHash: hash, passwordSalt: salt, role: role ?? config.defaultRole })
    request.log.info({ userId: user._id, role: user.role, by: request.user.sub }, 'account created by an admin')
    reply.code(201).header('cache-control', 'no-store')
    return { user: toPublicUser(user) }
  })

  app.patch('/api/users/:id', {
    preHandler: adminOnly,
    schema: {
      tags: ['accounts'],
      summary: 'Change an account\'s role (admin); in effect on its next request',
      security: [{ bearerAuth: [] }],
      params: idParams,
      body: z.object({ role: roleSchema }),
      response: { 200: z.object({ user: publicUserSchema }), 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema }
    }
  }, async (request, reply) => {
    const { id } = request.params
    if (id === request.user.sub && request.body.role !== 'admin') {
      throw new ForbiddenError('you cannot take the admin role from your own account; another admin can')
    }
    const user = await setUserRole(app.db, id, request.body.role)
    if (user === null) throw new NotFoundError(`No account ${id}`)
    await app.accounts.changed(id, { role: roleOf(user) })
    request.log.info({ userId: id, role: user.role, by: request.user.sub }, 'role changed')
    reply.header('cache-control', 'no-store')
    return { user: toPublicUser(user) }
  })

  app.delete('/api/users/:id', {
    preHandler: app.authenticate,
    schema: {
      tags: ['accounts'],
      summary: 'Delete an account (an admin, or the account itself); its tokens stop working at once',
      security: [{ bearerAuth: [] }],
      params: idParams,
      response: { 204: z.null().describe('deleted'), 401: errorSchema, 403: errorSchema, 404: errorSchema }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const self = id === request.user.sub
    if (!self && request.user.role !== 'admin') throw new ForbiddenError('only an admin may delete another account')
    const user: User | null = await findUserById(app.db, id)
    if (user === null) throw new NotFoundError(`No account ${id}`)
    if (roleOf(user) === 'admin' && await countAdmins(app.db) <= 1) {
      throw new ForbiddenError('this is the last admin account; make another account an admin first')
    }
    await deleteUser(app.db, id)
    const revoked = await revokeRefreshTokensOf(app.db, id)
    await app.accounts.changed(id, null)
    request.log.info({ userId: id, by: request.user.sub, refreshTokens: revoked }, 'account deleted')
    reply.code(204)
    return null
  })

  app.post('/api/invitations', {
    preHandler: adminOnly,
    schema: {
      tags: ['accounts'],
      summary: 'Invite someone (admin): a single-use link to register with a role, valid for INVITATION_TTL_HOURS unless told otherwise',
      security: [{ bearerAuth: [] }],
      body: z.object({
        role: roleSchema.optional(),
        note: z.string().max(200).optional().describe('for your list, e.g. the person\'s name or email'),
        expiresInHours: z.number().int().min(1).max(24 * 365).optional()
      }).nullish(),
      response: {
        201: z.object({ code: z.string(), url: z.string().describe('the page where the invited person registers'), invitation: invitationView }),
        400: errorSchema, 401: errorSchema, 403: errorSchema
      }
    }
  }, async (request, reply) => {
    const body = request.body ?? {}
    const ttlSeconds = body.expiresInHours !== undefined ? body.expiresInHours * 3600 : config.invitationTtlSeconds
    const { code, invitation } = await createInvitation(app.db, {
      role: body.role ?? config.defaultRole, note: body.note ?? null, createdBy: request.user.sub, ttlSeconds
    })
    request.log.info({ invitation: invitation._id.slice(0, 12), role: invitation.role, by: request.user.sub }, 'invitation created')
    reply.code(201).header('cache-control', 'no-store')
    return { code, url: `/?invite=${code}`, invitation: view(invitation) }
  })

  app.get('/api/invitations', {
    preHandler: adminOnly,
    schema: {
      tags: ['accounts'],
      summary: 'Invitations, newest first (admin); codes are not kept, only their hashes',
      security: [{ bearerAuth: [] }],
      response: { 200: z.object({ items: z.array(invitationView) }), 401: errorSchema, 403: errorSchema }
    }
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return { items: (await listInvitations(app.db)).map(view) }
  })

  app.delete('/api/invitations/:id', {
    preHandler: adminOnly,
    schema: {
      tags: ['accounts'],
      summary: 'Withdraw an invitation (admin)',
      security: [{ bearerAuth: [] }],
      params: idParams,
      response: { 204: z.null(), 401: errorSchema, 403: errorSchema, 404: errorSchema }
    }
  }, async (request, reply) => {
    if (!/^[0-9a-f]{64}$/.test(request.params.id)) throw new BadRequestError('id: is not an invitation id')
    if (!await deleteInvitation(app.db, request.params.id)) throw new NotFoundError(`No invitation ${request.params.id}`)
    reply.code(204)
    return null
  })
}, { fastify: '5.x', name: 'lectern-accounts', dependencies: ['lectern-auth', 'lectern-db'] })

function view (i: { _id: string, role: string, note: string | null, createdAt: Date, expiresAt: Date, usedAt: Date | null, usedBy: string | null }) {
  return {
    id: i._id,
    role: i.role as typeof ROLES[number],
    note: i.note,
    createdAt: i.createdAt.toISOString(),
    expiresAt: i.expiresAt.toISOString(),
    usedAt: i.usedAt?.toISOString() ?? null,
    usedBy: i.usedBy
  }
}
