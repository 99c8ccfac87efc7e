import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import rateLimit from '@fastify/rate-limit'
import { Redis } from 'ioredis'
import { z } from 'zod'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { ROLES, type Role, type User } from '../src/db/documents.js'
import { deriveKey } from '../src/secrets.js'
import { ConflictError, ForbiddenError, TooManyRequestsError, UnauthorizedError, isDuplicateKey } from '../src/errors.js'
import { hashPassword, verifyAgainstDummy, verifyPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../src/auth/password.js'
import { isPlausibleEmail, normalizeEmail } from '../src/auth/normalize-email.js'
import { AccountStatus } from '../src/auth/account-status.js'
import { UploadQuota } from '../src/api/upload-quota.js'
import { refreshCookie, clearedRefreshCookie, readCookie, REFRESH_COOKIE } from '../src/auth/refresh-cookie.js'
import { createUser, findUserByEmail, findUserById, noUsersYet, roleOf, toPublicUser } from '../src/db/user-repository.js'
import { findRefreshToken, issueRefreshToken, pruneRefreshTokens, revokeRefreshFamily, useRefreshToken } from '../src/db/refresh-token-repository.js'
import { markInvitationUsed, returnInvitation, takeInvitation, type Invitation } from '../src/db/invitation-repository.js'
import { errorSchema } from '../src/api/error-schema.js'
import { countSignupsSince, createSignup, pruneSignups, takeSignup } from '../src/db/signup-repository.js'
import { createMailer, type Mail } from '../src/mail/mailer.js'

/** The caller of a request once its access token is verified: the account and its role now (not the one in the token). */
export interface AuthUser {
  sub: string
  role: Role
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string, role: Role }
    user: AuthUser
  }
}

type PreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: 401 unless a valid Bearer token of an existing account is sent; sets request.user. */
    authenticate: PreHandler
    /** preHandler: sets request.user when a valid Bearer token is sent; 401 for an invalid one; nothing when absent. */
    authenticateOptional: PreHandler
    /** preHandler (after authenticate): 403 unless request.user has one of the roles. */
    requireRole: (...roles: Role[]) => PreHandler
    /** preHandler: authenticate, then 403 unless the account may upload (admin, teacher). */
    authenticateUploader: PreHandler
    /** Current state of accounts (exists, role), checked per request; tell it of every change. */
    accounts: AccountStatus
    /** Per-account upload limits (QUOTA_*), for every upload route. */
    uploadQuota: UploadQuota
    /** preHandler (after authenticateUploader) for creating a resumable upload: its Upload-Length against the quotas. */
    checkUploadQuota: PreHandler
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
export const UPLOADER_ROLES: Role[] = ['admin', 'teacher']
/** Two tabs may refresh with the same token at once; a reuse later than this is a copied token. */
const REUSE_GRACE_MS = 10_000

const FAST_JWT_MESSAGES: Record<string, string> = {
  FAST_JWT_EXPIRED: 'the access token has expired; get a new one from POST /api/auth/refresh, or sign in again',
  FAST_JWT_INACTIVE: 'the access token is not valid yet',
  FAST_JWT_INVALID_SIGNATURE: 'the access token signature is not valid; it was not issued by this server',
  FAST_JWT_INVALID_ALGORITHM: 'the access token is not signed with HS256; it was not issued by this server',
  FAST_JWT_MISSING_SIGNATURE: 'the access token is not signed; it was not issued by this server',
  FAST_JWT_MALFORMED: 'the access token is malformed',
  FAST_JWT_INVALID_TYPE: 'the access token is malformed'
}

export const emailSchema = z.string()
  .max(254, 'must be at most 254 characters')
  .transform(normalizeEmail)
  .refine(isPlausibleEmail, 'must be an email address such as ann@example.org')

export const passwordSchema = z.string()
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)

export const nameSchema = z.string().transform((s) => s.replace(/\s+/g, ' ').trim())
  .pipe(z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters'))

const registerBody = z.object({
  email: emailSchema,
  password: passwordSchema,
  name: nameSchema,
  invite: z.string().max(100, 'is not an invitation code').optional().describe('the code of an invitation (required when REGISTRATION=invite)')
})

// No minimum length on login: a password set under an older rule must still work, and the
// answer for a short one must not differ from that for a wrong one.
const loginBody = z.object({
  email: z.string().max(254, 'must be at most 254 characters').transform(normalizeEmail),
  password: z.string().max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)
})

const refreshBody = z.object({
  refreshToken: z.string().max(200).optional().describe('the refresh token; browsers send it as the HttpOnly cookie instead')
}).nullish()

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
  expiresIn: z.number().int().describe('seconds until the access token expires'),
  refreshToken: z.string().describe('single use: POST it to /api/auth/refresh for a new access token (also set as an HttpOnly cookie)'),
  refreshExpiresAt: z.string().describe('ISO 8601 time after which the refresh token is refused')
})

const confirmBody = z.object({
  code: z.string().max(100, 'is not a sign-up code').describe('the code from the link in the sign-up mail (/?confirm=<code>)')
})

const signupAnswer = z.object({
  message: z.string().describe('where the mail went; the same whether or not the address already has an account')
})

/** How long a sign-up link works. */
export const SIGNUP_TTL_SECONDS = 24 * 3600
/** Sign-up mails one address gets in an hour at most, whoever asks: the form must not be a way to flood someone's inbox. */
const SIGNUP_MAILS_PER_HOUR = 5

/** "a…@example.org": enough for a person to see which inbox to check, and nothing they did not type. */
export function maskEmail (email: string): string {
  const at = email.lastIndexOf('@')
  return `${email.slice(0, 1)}…${email.slice(at)}`
}

const BAD_LOGIN = 'email or password is wrong'
const BAD_REFRESH = 'the refresh token is not valid (signed out, expired or already used); sign in again'

export default fp<AuthPluginOptions>(async function authPlugin (fastify, options) {
  const app = fastify.withTypeProvider<ZodTypeProvider>()
  const { config } = app
  const expiresIn = config.jwtExpiresInSeconds

  await app.register(jwt, {
    secret: deriveKey(app.secret, 'jwt'),
    sign: { algorithm: 'HS256', expiresIn },
    verify: { algorithms: ['HS256'] }
  })
  // The dummy hash that unknown emails are checked against is made now, so that the first
  // failed login is not the one that pays for making it (which would time differently).
  await verifyAgainstDummy('')

  // With Redis configured (several API nodes), sign-in attempts are counted across all nodes (or an
  // attacker could multiply the budget by the number of nodes) and account states are shared.
  let redis: Redis | undefined
  if (config.redisUrl !== undefined) {
    redis = new Redis(config.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 500,
      // No answer for this long while a command waits (a hung Redis): the connection is dropped,
      // and commands fail at once until a new one answers, instead of 500 ms each.
      socketTimeout: 3000,
      connectTimeout: 1000,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), 2000),
      connectionName: 'lectern-auth'
    })
    let lastWarning = 0
    redis.on('error', (err: Error) => {
      if (Date.now() - lastWarning < 10_000) return
      lastWarning = Date.now()
      app.log.warn({ err: err.message }, 'auth store (redis) unavailable; sign-ins are not rate limited and account checks read the database meanwhile')
    })
    const client = redis
    app.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
  }
  const accounts = new AccountStatus(app.db, { redis })
  app.decorate('accounts', accounts)
  const uploadQuota = new UploadQuota(app.db, config.quotas)
  app.decorate('uploadQuota', uploadQuota)
  app.decorate('checkUploadQuota', async function checkUploadQuota (request: FastifyRequest) {
    const length = Number(request.headers['upload-length'])
    // Only checked here, not held: the bytes of a resumable upload come in many requests.
    const admitted = await uploadQuota.admit(request.user, Number.isFinite(length) && length > 0 ? length : undefined)
    admitted.release()
  })

  /** Verifies the Bearer token of a request and that its account still exists; undefined when there is none. */
  async function verifyRequest (request: FastifyRequest): Promise<AuthUser | undefined> {
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
    const parsed = z.object({ sub: z.string().min(1).max(64) }).safeParse(claims)
    if (!parsed.success) throw new UnauthorizedError('the access token does not name a user')
    // The role in the token is what it was at sign-in; what counts is the account's role now.
    const state = await accounts.get(parsed.data.sub)
    if (state === null) throw new UnauthorizedError('the account of this access token no longer exists')
    return { sub: parsed.data.sub, role: state.role }
  }

  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const user = await verifyRequest(request)
    if (user === undefined) throw new UnauthorizedError('sign in first: send Authorization: Bearer <token> (from POST /api/auth/login)')
    request.user = user
  })

  app.decorate('authenticateOptional', async function authenticateOptional (request: FastifyRequest) {
    const user = await verifyRequest(request)
    // @fastify/jwt starts request.user as null; undefined is what "no caller" means here.
    request.user = user as AuthUser
  })

  function requireRole (...roles: Role[]): PreHandler {
    return async function checkRole (request: FastifyRequest) {
      const user = currentUser(request)
      if (user === undefined) throw new UnauthorizedError('sign in first: send Authorization: Bearer <token>')
      if (!roles.includes(user.role)) {
        throw new ForbiddenError(`this needs the ${roles.join(' or ')} role; your account is a ${user.role} (an admin can change that)`)
      }
    }
  }
  app.decorate('requireRole', requireRole)
  const uploader = requireRole(...UPLOADER_ROLES)
  app.decorate('authenticateUploader', async function authenticateUploader (request: FastifyRequest, reply: FastifyReply) {
    await app.authenticate(request, reply)
    await uploader(request, reply)
  })

  // Expired refresh tokens are dropped now and then (they are refused anyway).
  const prune = setInterval(() => { pruneRefreshTokens(app.db).catch(() => {}) }, 3600_000)
  prune.unref()
  app.addHook('onClose', async () => { clearInterval(prune) })

  const limit = options.rateLimit ?? DEFAULT_AUTH_RATE_LIMIT

  // Sign-up mails go out after the answer, so that how long the answer takes says nothing about
  // the mail (or the address); close waits for those still being sent.
  const mailer = createMailer(config, app.log)
  const sending = new Set<Promise<void>>()
  function sendLater (mail: Mail): void {
    const sent = mailer.send(mail).catch((err: Error) => {
      app.log.error({ err: err.message, to: maskEmail(mail.to) },
        mailer.kind === 'smtp'
          ? 'a sign-up mail could not be sent; check SMTP_URL and MAIL_FROM, and that the SMTP server accepts mail from this host'
          : 'a sign-up mail could not be written to DATA_DIR/outbox; check that the directory is writable')
    }).finally(() => { sending.delete(sent) })
    sending.add(sent)
  }
  app.addHook('onClose', async () => {
    await Promise.allSettled([...sending])
    mailer.close()
  })
  if (config.signupConfirmation === 'email' && mailer.kind === 'outbox' && config.registration === 'open') {
    app.log.info('sign-up is confirmed by mail, and SMTP_URL is not set: sign-up mails are written to DATA_DIR/outbox and their links logged; set SMTP_URL, MAIL_FROM and PUBLIC_URL to send them')
  }
  const pruneSignupsTimer = setInterval(() => { pruneSignups(app.db).catch(() => {}) }, 3600_000)
  pruneSignupsTimer.unref()
  app.addHook('onClose', async () => { clearInterval(pruneSignupsTimer) })

  /**
   * The sign-up that does not say whether the email has an account: the same scrypt work, one
   * write and one mail either way; the mail tells its reader which case it is.
   */
  async function signUpByMail (email: string, password: string, name: string): Promise<void> {
    const hashed = await hashPassword(password)
    const existing = await findUserByEmail(app.db, email)
    const recent = await countSignupsSince(app.db, email, new Date(Date.now() - 3600_000))
    if (recent >= SIGNUP_MAILS_PER_HOUR) {
      app.log.warn({ to: maskEmail(email), recent }, 'sign-up mail not sent: this address had as many as it may get in an hour')
      return
    }
    const { code } = await createSignup(app.db, { email, name, password: existing === null ? hashed : null, ttlSeconds: SIGNUP_TTL_SECONDS })
    const home = `${config.publicUrl}/`
    if (existing === null) {
      const link = `${config.publicUrl}/?confirm=${code}`
      sendLater({
        to: email,
        subject: 'Finish signing up to Lectern',
        link,
        text: [
          `Someone (you, we hope) asked to create a Lectern account for this address at ${home}.`,
          '',
          'To finish signing up, open this link within 24 hours:',
          '',
          link,
          '',
          'The link works once. If you did not ask for an account, ignore this mail: no account is made without the link.',
          ''
        ].join('\n')
      })
    } else {
      sendLater({
        to: email,
        subject: 'Signing up to Lectern: you already have an account',
        link: home,
        text: [
          `Someone (you, we hope) tried to create a Lectern account for this address at ${home}, but this address already has one.`,
          'No new account was made and yours is unchanged.',
          '',
          `To sign in, open ${home} and choose "Sign in" with this address and your password.`,
          'If you forgot your password, ask an admin of this Lectern to set a new one for you.',
          '',
          'If it was not you, ignore this mail: the password given in that attempt was not kept.',
          ''
        ].join('\n')
      })
    }
  }

  // Routes (and the rate limiter) live in a child context so that their hooks stay theirs.
  await app.register(async function authRoutes (child) {
    const routes = child.withTypeProvider<ZodTypeProvider>()
    await routes.register(rateLimit, {
      global: false,
      ...(redis !== undefined ? { redis, nameSpace: 'lectern:auth-rate:' } : {}),
      // Redis away: let sign-ins through (logged above) rather than lock every user out.
      skipOnError: true,
      errorResponseBuilder: (_request, context) =>
        new TooManyRequestsError(`too many attempts from this address; try again in ${Math.ceil(context.ttl / 1000)} s`)
    })
    const rateLimitConfig = { rateLimit: { max: limit.max, timeWindow: limit.timeWindowMs } }

    /** An access token, and a refresh token (in the body and as an HttpOnly cookie for the web UI). */
    async function sessionFor (request: FastifyRequest, reply: FastifyReply, user: User, family?: string) {
      const refresh = await issueRefreshToken(app.db, user._id, config.refreshTokenTtlSeconds, family)
      reply.header('cache-control', 'no-store')
        .header('set-cookie', refreshCookie(refresh.token, config.refreshTokenTtlSeconds, request.protocol === 'https'))
      return {
        user: toPublicUser(user),
        token: app.jwt.sign({ sub: user._id, role: roleOf(user) }),
        expiresIn,
        refreshToken: refresh.token,
        refreshExpiresAt: refresh.expiresAt.toISOString()
      }
    }

    routes.post('/api/auth/register', {
      config: rateLimitConfig,
      schema: {
        tags: ['auth'],
        summary: 'Create an account (REGISTRATION: open, invite or closed); the first account of a new installation is the admin',
        body: registerBody,
        description: 'With SIGNUP_CONFIRMATION=email (the default), a sign-up after the first account and without an invitation answers 202 and a mail: a link to finish (POST /api/auth/confirm), or, for an address that has an account, a note saying so. The answer is the same either way. With SIGNUP_CONFIRMATION=off the account is made at once (201), and a taken email is 409.',
        response: { 201: sessionSchema, 202: signupAnswer, 400: errorSchema, 403: errorSchema, 409: errorSchema, 429: errorSchema }
      }
    }, async (request, reply) => {
      const { email, password, name, invite } = request.body
      const mode = config.registration
      const confirming = config.signupConfirmation === 'email'
      // The first account of an empty store may always register (it becomes the admin): that is
      // how an installation gets its admin, whatever the mode. It is made at once: with no
      // account yet there is nothing to tell about.
      const first = (mode !== 'open' || confirming) && await noUsersYet(app.db)
      if (mode === 'closed' && !first) {
        throw new ForbiddenError('registration is closed on this server; ask an admin to create your account')
      }
      if (mode === 'invite' && invite === undefined && !first) {
        throw new ForbiddenError('registration needs an invitation on this server: open the invitation link an admin sent you')
      }
      if (confirming && !first && invite === undefined) {
        await signUpByMail(email, password, name)
        reply.code(202).header('cache-control', 'no-store')
        return { message: `Check your inbox at ${maskEmail(email)}: we sent a link to finish signing up. It is valid for 24 hours.` }
      }
      // An invitation link is already proof enough: its account is made at once.
      let invitation: Invitation | null = null
      if (invite !== undefined) {
        invitation = await takeInvitation(app.db, invite)
        if (invitation === null) throw new ForbiddenError('invite: this invitation is unknown, already used or expired; ask an admin for a new one')
      }
      const { hash, salt } = await hashPassword(password)
      let user: User
      try {
        user = await createUser(app.db, { email, name, passwordHash: hash, passwordSalt: salt, role: invitation?.role ?? config.defaultRole })
      } catch (err) {
        if (invitation !== null) await returnInvitation(app.db, invitation._id).catch(() => {})
        throw err
      }
      if (invitation !== null) await markInvitationUsed(app.db, invitation._id, user._id).catch(() => {})
      request.log.info({ userId: user._id, role: user.role, invited: invitation !== null }, 'account created')
      reply.code(201)
      return await sessionFor(request, reply, user)
    })

    routes.post('/api/auth/confirm', {
      config: rateLimitConfig,
      schema: {
        tags: ['auth'],
        summary: 'Finish signing up with the code from the sign-up mail\'s link; creates the account and answers a session as register does',
        body: confirmBody,
        response: { 201: sessionSchema, 400: errorSchema, 403: errorSchema, 409: errorSchema, 429: errorSchema }
      }
    }, async (request, reply) => {
      // Links from before registration was restricted do not get round the restriction.
      if (config.registration === 'closed') {
        throw new ForbiddenError('registration is closed on this server; ask an admin to create your account')
      }
      if (config.registration === 'invite') {
        throw new ForbiddenError('registration needs an invitation on this server: open the invitation link an admin sent you')
      }
      const signup = await takeSignup(app.db, request.body.code)
      if (signup === null || signup.passwordHash === null || signup.passwordSalt === null) {
        throw new ForbiddenError('this sign-up link is unknown, already used or expired (links work once, for 24 hours); sign up again to get a new one')
      }
      let user: User
      try {
        user = await createUser(app.db, { email: signup.email, name: signup.name, passwordHash: signup.passwordHash, passwordSalt: signup.passwordSalt, role: config.defaultRole })
      } catch (err) {
        // The holder of the link reads the mailbox: telling them the address has an account leaks nothing.
        if (isDuplicateKey(err)) {
          throw new ConflictError('this address already has an account (finished from another sign-up link, or made by an admin); sign in with its password instead')
        }
        throw err
      }
      request.log.info({ userId: user._id, role: user.role, confirmed: true }, 'account created')
      reply.code(201)
      return await sessionFor(request, reply, user)
    })

    routes.post('/api/auth/login', {
      config: rateLimitConfig,
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password; answers an access token and a refresh token',
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
      return await sessionFor(request, reply, user)
    })

    // Not rate limited: a refresh token is 256 random bits (nothing to guess), and a school behind
    // one address renews hundreds of sessions an hour.
    routes.post('/api/auth/refresh', {
      schema: {
        tags: ['auth'],
        summary: 'A new access token for a refresh token (the cookie, or refreshToken in the body); the refresh token is used up and a new one given',
        body: refreshBody,
        response: { 200: sessionSchema, 401: errorSchema, 429: errorSchema }
      }
    }, async (request, reply) => {
      const given = request.body?.refreshToken ?? readCookie(request.headers.cookie, REFRESH_COOKIE)
      const refuse = (): never => {
        reply.header('set-cookie', clearedRefreshCookie(request.protocol === 'https'))
        throw new UnauthorizedError(BAD_REFRESH)
      }
      if (given === undefined) refuse()
      const record = await findRefreshToken(app.db, given!)
      if (record === null || record.expiresAt.getTime() <= Date.now()) return refuse()
      if (!await useRefreshToken(app.db, record._id)) {
        const used = await findRefreshToken(app.db, given!)
        if (used === null || used.usedAt === null || Date.now() - used.usedAt.getTime() > REUSE_GRACE_MS) {
          // Used before, outside the grace: someone else has a copy. End every token of this sign-in.
          const revoked = await revokeRefreshFamily(app.db, record.family)
          request.log.warn({ userId: record.userId, revoked }, 'a used refresh token was presented again; its sign-in is revoked')
          return refuse()
        }
      }
      const user = await findUserById(app.db, record.userId)
      if (user === null) return refuse()
      return await sessionFor(request, reply, user, record.family)
    })

    routes.post('/api/auth/logout', {
      schema: {
        tags: ['auth'],
        summary: 'Sign out: the refresh token (cookie or body) and every token of its sign-in stop working',
        body: refreshBody,
        response: { 204: z.null().describe('signed out') }
      }
    }, async (request, reply) => {
      const given = request.body?.refreshToken ?? readCookie(request.headers.cookie, REFRESH_COOKIE)
      const record = given === undefined ? null : await findRefreshToken(app.db, given)
      if (record !== null) await revokeRefreshFamily(app.db, record.family)
      reply.code(204).header('cache-control', 'no-store').header('set-cookie', clearedRefreshCookie(request.protocol === 'https'))
      return null
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
      if (user === null) throw new UnauthorizedError('the account of this access token no longer exists')
      reply.header('cache-control', 'no-store')
      return { user: toPublicUser(user) }
    })
  })
}, { fastify: '5.x', name: 'lectern-auth', dependencies: ['lectern-db'] })
