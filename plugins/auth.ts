import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import rateLimit from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import { z } from 'zod'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Role } from '../src/db/documents.js'
import { deriveKey } from '../src/secrets.js'
import { ForbiddenError, TooManyRequestsError, UnauthorizedError } from '../src/errors.js'
import { hashPassword, verifyAgainstDummy, verifyPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../src/auth/password.js'
import { isPlausibleEmail, normalizeEmail } from '../src/auth/normalize-email.js'
import { createUser, findUserByEmail, findUserById, toPublicUser } from '../src/db/user-repository.js'
import { errorSchema } from '../src/api/error-schema.js'

/** The claims of a Lectern access token, and what request.user holds once verified. */
export interface AuthUser {
  sub: string
  role: Role
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AuthUser
    user: AuthUser
  }
}

type PreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: 401 unless a valid Bearer token is sent; sets request.user. */
    authenticate: PreHandler
    /** preHandler: sets request.user when a valid Bearer token is sent; 401 for an invalid one; nothing when absent. */
    authenticateOptional: PreHandler
    /** preHandler (after authenticate): 403 unless request.user has the role. */
    requireRole: (role: Role) => PreHandler
  }
}

/** request.user, or undefined when no token was sent (safe after authenticateOptional). */
export function currentUser (request: FastifyRequest): AuthUser | undefined {
  return (request.user as AuthUser | null | undefined) ?? undefined
}

export interface AuthPluginOptions {
  /** Attempts per IP per window on login and on register (each counted apart). */
  rateLimit?: { max: number, timeWindowMs: number }
}

export const DEFAULT_AUTH_RATE_LIMIT = { max: 20, timeWindowMs: 60_000 }

const ROLES = ['admin', 'user'] as const

const FAST_JWT_MESSAGES: Record<string, string> = {
  FAST_JWT_EXPIRED: 'the access token has expired; sign in again',
  FAST_JWT_INACTIVE: 'the access token is not valid yet',
  FAST_JWT_INVALID_SIGNATURE: 'the access token signature is not valid; it was not issued by this server',
  FAST_JWT_INVALID_ALGORITHM: 'the access token is not signed with HS256; it was not issued by this server',
  FAST_JWT_MISSING_SIGNATURE: 'the access token is not signed; it was not issued by this server',
  FAST_JWT_MALFORMED: 'the access token is malformed',
  FAST_JWT_INVALID_TYPE: 'the access token is malformed'
}

const emailSchema = z.string()
  .max(254, 'must be at most 254 characters')
  .transform(normalizeEmail)
  .refine(isPlausibleEmail, 'must be an email address such as ann@example.org')

const passwordSchema = z.string()
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)

const registerBody = z.object({
  email: emailSchema,
  password: passwordSchema,
  name: z.string().transform((s) => s.replace(/\s+/g, ' ').trim())
    .pipe(z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters'))
})

// No minimum length on login: a password set under an older rule must still work, and the
// answer for a short one must not differ from that for a wrong one.
const loginBody = z.object({
  email: z.string().max(254, 'must be at most 254 characters').transform(normalizeEmail),
  password: z.string().max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)
})

export const publicUserSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  createdAt: z.string()
})

const sessionSchema = z.object({
  user: publicUserSchema,
  token: z.string().describe('HS256 JWT; send as Authorization: Bearer <token>'),
  expiresIn: z.number().int().describe('seconds until the token expires')
})

const BAD_LOGIN = 'email or password is wrong'

export default fp<AuthPluginOptions>(async function authPlugin (fastify, options) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const expiresIn = app.config.jwtExpiresInSeconds

  await app.register(jwt, {
    secret: deriveKey(app.secret, 'jwt'),
    sign: { algorithm: 'HS256', expiresIn },
    verify: { algorithms: ['HS256'] }
  })
  // The dummy hash that unknown emails are checked against is made now, so that the first
  // failed login is not the one that pays for making it (which would time differently).
  await verifyAgainstDummy('')

  /** Verifies the Bearer token of a request; undefined when there is none. */
  function verifyRequest (request: FastifyRequest): AuthUser | undefined {
    const header = request.headers.authorization
    if (header === undefined || header === '') return undefined
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (match === null) throw new UnauthorizedError('the Authorization header must be "Bearer <token>"')
    let claims: unknown
    try {
      claims = app.jwt.verify(match[1]!)
    } catch (err) {
      const code = (err as { code?: string }).code ?? ''
      throw new UnauthorizedError(FAST_JWT_MESSAGES[code] ?? 'the access token is not valid')
    }
    const parsed = z.object({ sub: z.string().min(1), role: z.enum(ROLES) }).safeParse(claims)
    if (!parsed.success) throw new UnauthorizedError('the access token does not name a user and role')
    return { sub: parsed.data.sub, role: parsed.data.role }
  }

  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const user = verifyRequest(request)
    if (user === undefined) throw new UnauthorizedError('sign in first: send Authorization: Bearer <token> (from POST /api/auth/login)')
    request.user = user
  })

  app.decorate('authenticateOptional', async function authenticateOptional (request: FastifyRequest) {
    const user = verifyRequest(request)
    // @fastify/jwt starts request.user as null; undefined is what "no caller" means here.
    request.user = user as AuthUser
  })

  app.decorate('requireRole', function requireRole (role: Role): PreHandler {
    return async function checkRole (request: FastifyRequest) {
      const user = currentUser(request)
      if (user === undefined) throw new UnauthorizedError('sign in first: send Authorization: Bearer <token>')
      if (user.role !== role) throw new ForbiddenError(`this needs the ${role} role`)
    }
  })

  const limit = options.rateLimit ?? DEFAULT_AUTH_RATE_LIMIT

  // Routes (and the rate limiter) live in a child context so that their hooks stay theirs.
  await app.register(async function authRoutes (child) {
    const routes = child.withTypeProvider<ZodTypeProvider>()
    // With Redis configured (several API nodes), attempts are counted across all nodes; otherwise
    // an attacker could multiply the budget by the number of nodes.
    let redis: Redis | undefined
    if (app.config.redisUrl !== undefined) {
      redis = new Redis(app.config.redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: 500,
        connectTimeout: 1000,
        retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2000),
        connectionName: 'lectern-auth-rate-limit'
      })
      let lastWarning = 0
      redis.on('error', (err: Error) => {
        if (Date.now() - lastWarning < 10_000) return
        lastWarning = Date.now()
        app.log.warn({ err: err.message }, 'rate-limit store (redis) unavailable; login and register are not rate limited meanwhile')
      })
      const client = redis
      child.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
    }
    await routes.register(rateLimit, {
      global: false,
      ...(redis !== undefined ? { redis, nameSpace: 'lectern:auth-rate:' } : {}),
      // Redis away: let sign-ins through (logged above) rather than lock every user out.
      skipOnError: true,
      errorResponseBuilder: (_request, context) =>
        new TooManyRequestsError(`too many attempts from this address; try again in ${Math.ceil(context.ttl / 1000)} s`)
    })
    const rateLimitConfig = { rateLimit: { max: limit.max, timeWindow: limit.timeWindowMs } }

    const sessionFor = (user: Parameters<typeof toPublicUser>[0]) => ({
      user: toPublicUser(user),
      token: app.jwt.sign({ sub: user._id, role: user.role }),
      expiresIn
    })

    routes.post('/api/auth/register', {
      config: rateLimitConfig,
      schema: {
        tags: ['auth'],
        summary: 'Create an account; the first account of a new installation is the admin',
        body: registerBody,
        response: { 201: sessionSchema, 400: errorSchema, 409: errorSchema, 429: errorSchema }
      }
    }, async (request, reply) => {
      const { email, password, name } = request.body
      const { hash, salt } = await hashPassword(password)
      const user = await createUser(app.db, { email, name, passwordHash: hash, passwordSalt: salt })
      request.log.info({ userId: user._id, role: user.role }, 'account created')
      reply.code(201).header('cache-control', 'no-store')
      return sessionFor(user)
    })

    routes.post('/api/auth/login', {
      config: rateLimitConfig,
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password; answers an access token',
        body: loginBody,
        response: { 200: sessionSchema, 400: errorSchema, 401: errorSchema, 429: errorSchema }
      }
    }, async (request, reply) => {
      const { email, password } = request.body
      const user = await findUserByEmail(app.db, email)
      // The same work and the same answer whether or not the email exists.
      const ok = user === null
        ? await verifyAgainstDummy(password)
        : await verifyPassword(password, { hash: user.passwordHash, salt: user.passwordSalt })
      if (user === null || !ok) throw new UnauthorizedError(BAD_LOGIN)
      reply.header('cache-control', 'no-store')
      return sessionFor(user)
    })

    routes.get('/api/auth/me', {
      preHandler: app.authenticate,
      schema: {
        tags: ['auth'],
        summary: 'The signed-in account',
        security: [{ bearerAuth: [] }],
        response: { 200: z.object({ user: publicUserSchema }), 401: errorSchema }
      }
    }, async (request, reply) => {
      const user = await findUserById(app.db, request.user.sub)
      if (user === null) throw new UnauthorizedError('the account of this token no longer exists')
      reply.header('cache-control', 'no-store')
      return { user: toPublicUser(user) }
    })
  })
}, { fastify: '5.x', name: 'lectern-auth', dependencies: ['lectern-db'] })
