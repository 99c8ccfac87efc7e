import { totalmem } from 'node:os'
import { resolve } from 'node:path'
import { z } from 'zod'

// One schema over the environment. Code reads the typed Config, never process.env.
// Names are those of DESIGN.md; other tools depend on them.

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v)

const optionalString = z.preprocess(emptyToUndefined, z.string().optional())

const port = (name: string, fallback: number) =>
  z.preprocess(emptyToUndefined, z.string().optional())
    .transform((v, ctx) => {
      if (v === undefined) return fallback
      if (!/^\d+$/.test(v) || Number(v) > 65535) {
        ctx.addIssue({ code: 'custom', message: `must be a port number 0..65535, got "${v}"` })
        return z.NEVER
      }
      return Number(v)
    })
    .describe(name)

const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyToUndefined, z.string().optional())
    .transform((v, ctx) => {
      if (v === undefined) return fallback
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number 1..${max}, got "${v}"` })
        return z.NEVER
      }
      return Number(v)
    })

const bool = (fallback: boolean) =>
  z.preprocess(emptyToUndefined, z.string().optional())
    .transform((v, ctx) => {
      if (v === undefined) return fallback
      const s = v.toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(s)) return true
      if (['0', 'false', 'no', 'off'].includes(s)) return false
      ctx.addIssue({ code: 'custom', message: `must be true or false, got "${v}"` })
      return z.NEVER
    })

/**
 * A URL with one of the protocols. `secret` gives the messages for a URL that may carry a
 * password (they never echo the value).
 */
const url = (protocols: string[], secret?: { invalid: string, wrongScheme: string }) =>
  z.preprocess(emptyToUndefined, z.string().optional())
    .transform((v, ctx) => {
      if (v === undefined) return undefined
      let parsed: URL
      try {
        parsed = new URL(v)
      } catch {
        ctx.addIssue({ code: 'custom', message: secret?.invalid ?? `is not a valid URL: "${v}"` })
        return z.NEVER
      }
      if (!protocols.includes(parsed.protocol)) {
        ctx.addIssue({ code: 'custom', message: secret?.wrongScheme ?? `must start with ${protocols.map((p) => p + '//').join(' or ')}, got "${v}"` })
        return z.NEVER
      }
      if (parsed.hostname === '') {
        ctx.addIssue({ code: 'custom', message: secret?.wrongScheme ?? `has no host: "${v}"` })
        return z.NEVER
      }
      return v
    })

// The value is never echoed: an SMTP URL carries a password.
const smtpUrl = url(['smtp:', 'smtps:'], {
  invalid: 'is not a valid URL; write it as smtp://user:password@host:587 or smtps://user:password@host:465 (percent-encode special characters)',
  wrongScheme: 'must be smtp://[user:password@]host[:port] or smtps://...'
})

/** A sensible share of memory for the in-process cache: a tenth of RAM, at most 1 GiB. */
export const defaultCacheMemoryMb = () => Math.max(16, Math.min(1024, Math.floor(totalmem() / 1024 / 1024 / 10)))

const envSchema = z.object({
  PORT: port('PORT', 3000),
  HOST: z.preprocess(emptyToUndefined, z.string().default('127.0.0.1')),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')),
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  TRUST_PROXY: bool(false),

  S3_BUCKET: optionalString,
  S3_ENDPOINT: url(['http:', 'https:']),
  S3_REGION: optionalString,
  AWS_REGION: optionalString,
  S3_FORCE_PATH_STYLE: bool(false),
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  S3_SOCKET_TIMEOUT_MS: positiveInt(30_000, 3_600_000),
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,

  REDIS_URL: url(['redis:', 'rediss:']),
  MONGODB_URL: url(['mongodb:', 'mongodb+srv:']),
  MONGODB_OPERATION_TIMEOUT_MS: positiveInt(30_000, 3_600_000),

  JWT_SECRET: z.preprocess(emptyToUndefined, z.string().min(32, 'must be at least 32 characters').optional()),
  JWT_EXPIRES_IN_S: positiveInt(900, 30 * 24 * 3600),
  REFRESH_TOKEN_TTL_S: positiveInt(30 * 24 * 3600, 365 * 24 * 3600),
  REGISTRATION: z.preprocess(emptyToUndefined, z.enum(['open', 'invite', 'closed'], { error: 'must be open, invite or closed' }).default('open')),
  DEFAULT_ROLE: z.preprocess(emptyToUndefined, z.enum(['teacher', 'student'], { error: 'must be teacher or student' }).default('teacher')),
  INVITATION_TTL_HOURS: positiveInt(7 * 24, 365 * 24),
  SIGNUP_CONFIRMATION: z.preprocess(emptyToUndefined, z.enum(['email', 'off'], { error: 'must be email or off' }).default('email')),
  SMTP_URL: smtpUrl,
  MAIL_FROM: optionalString,
  PUBLIC_URL: url(['http:', 'https:']),
  QUOTA_STORAGE_MB: positiveInt(20 * 1024),
  QUOTA_UPLOADS: positiveInt(2, 1000),
  QUOTA_JOBS: positiveInt(3, 1000),
  HTTP_IDLE_TIMEOUT_S: positiveInt(60, 3600),
  HTTP_HEADERS_TIMEOUT_S: positiveInt(30, 3600),
  HTTP_KEEP_ALIVE_TIMEOUT_S: positiveInt(72, 3600),
  PLAYBACK_TOKEN_TTL_S: positiveInt(6 * 3600, 7 * 24 * 3600),

  WORKER: z.preprocess(emptyToUndefined, z.enum(['inline', 'off']).default('inline')),
  FFMPEG_PATH: z.preprocess(emptyToUndefined, z.string().default('ffmpeg')),
  FFPROBE_PATH: z.preprocess(emptyToUndefined, z.string().default('ffprobe')),
  HLS_SEGMENT_SECONDS: positiveInt(4, 20),
  MAX_DURATION_S: positiveInt(6 * 3600),
  MAX_FRAMES: positiveInt(6 * 3600 * 60),
  MAX_PIXELS: positiveInt(4096 * 2304),

  CACHE_MEMORY_MB: positiveInt(defaultCacheMemoryMb(), 1024 * 1024),
  CACHE_REDIS_TTL_S: positiveInt(24 * 3600),
  CACHE_REDIS_MAX_VALUE_MB: positiveInt(16, 512),
  CACHE_REDIS_TIMEOUT_MS: positiveInt(150, 60_000),

  UPLOAD_MAX_MB: positiveInt(4096),
  UPLOAD_EXPIRY_HOURS: positiveInt(24, 24 * 365),

  ABR_EDGE_LOG_PORT: port('ABR_EDGE_LOG_PORT', 0),

  METRICS_TOKEN: z.preprocess(emptyToUndefined, z.string().min(16, 'must be at least 16 characters').optional()),
  METRICS_PORT: port('METRICS_PORT', 0)
})

export interface S3Config {
  bucket: string
  endpoint: string | undefined
  region: string
  forcePathStyle: boolean
  accessKeyId: string | undefined
  secretAccessKey: string | undefined
  /** a call whose socket stays silent this long fails (and is retried by the SDK); S3_SOCKET_TIMEOUT_MS */
  socketTimeoutMs?: number
}

export interface Config {
  port: number
  host: string
  dataDir: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  trustProxy: boolean
  s3: S3Config | undefined
  redisUrl: string | undefined
  mongodbUrl: string | undefined
  /** the longest one metadata-store operation may take in all (server selection, retries, a queued write's wait) before it fails as unreachable */
  mongodbOperationTimeoutMs: number
  jwtSecret: string | undefined
  jwtExpiresInSeconds: number
  refreshTokenTtlSeconds: number
  /** who may create an account: anyone, holders of an invitation, or nobody (admins create accounts) */
  registration: 'open' | 'invite' | 'closed'
  /** the role of an account that registers without an invitation */
  defaultRole: 'teacher' | 'student'
  invitationTtlSeconds: number
  /** email: sign-up (after the first account, without an invitation) is finished by a link mailed to the address; off: at once, 409 for a taken email */
  signupConfirmation: 'email' | 'off'
  /** where mail goes: an SMTP server, or (smtpUrl undefined) .eml files in DATA_DIR/outbox */
  mail: { smtpUrl: string | undefined, from: string }
  /** the address people reach Lectern at, for links in mails (never taken from a request's Host header) */
  publicUrl: string
  /** per account (admins have none): stored originals, uploads at once, videos waiting for or in a transcode */
  quotas: { storageBytes: number, uploads: number, jobs: number }
  /** a connection on which no byte moves for this long is closed (a stalled upload body included) */
  idleTimeoutMs: number
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  playbackTokenTtlSeconds: number
  worker: 'inline' | 'off'
  ffmpegPath: string
  ffprobePath: string
  hlsSegmentSeconds: number
  /** What one transcode may cost, checked from the probe before encoding: longer, larger or more frames is refused */
  sourceLimits: { maxDurationSeconds: number, maxFrames: number, maxPixels: number }
  cache: {
    memoryBytes: number
    redisTtlSeconds: number
    redisMaxValueBytes: number
    redisTimeoutMs: number
  }
  uploadMaxBytes: number
  /** An unfinished resumable upload is refused (410) and its bytes swept this long after it was created. */
  uploadExpiryMs: number
  /** UDP port on which nginx's access log (syslog) of session requests arrives; 0: not listening */
  abrEdgeLogPort: number
  /** Bearer token that opens GET /metrics on the API port to non-loopback clients; undefined: loopback only. */
  metricsToken: string | undefined
  /** A port of its own on which /metrics answers anyone who can reach it; 0: none. */
  metricsPort: number
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads the environment into a Config, or throws a ConfigError whose message is one line naming the variable. */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const name = String(issue.path[0] ?? 'environment')
    const value = env[name]
    const message = issue.code === 'invalid_value' && value !== undefined
      ? `${issue.message} (got "${value}")`
      : issue.message
    throw new ConfigError(`${name}: ${message}`)
  }
  const e = parsed.data
  let s3: S3Config | undefined
  if (e.S3_BUCKET !== undefined) {
    const region = e.S3_REGION ?? e.AWS_REGION
    if (e.S3_ENDPOINT === undefined && region === undefined) {
      throw new ConfigError('S3_BUCKET: is set, but neither S3_ENDPOINT nor S3_REGION (or AWS_REGION) is, so there is no S3 service to reach')
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(e.S3_BUCKET)) {
      throw new ConfigError(`S3_BUCKET: "${e.S3_BUCKET}" is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)`)
    }
    s3 = {
      bucket: e.S3_BUCKET,
      endpoint: e.S3_ENDPOINT,
      region: region ?? 'us-east-1',
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
      accessKeyId: e.S3_ACCESS_KEY_ID ?? e.AWS_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY ?? e.AWS_SECRET_ACCESS_KEY,
      socketTimeoutMs: e.S3_SOCKET_TIMEOUT_MS
    }
  } else if (e.S3_ENDPOINT !== undefined) {
    throw new ConfigError('S3_ENDPOINT: is set without S3_BUCKET; set S3_BUCKET too, or unset S3_ENDPOINT to keep objects on disk')
  }
  if (e.SMTP_URL !== undefined && e.PUBLIC_URL === undefined) {
    throw new ConfigError('PUBLIC_URL: is required with SMTP_URL, for the links in mails (e.g. https://lectern.example.org)')
  }
  if (e.SMTP_URL !== undefined && e.MAIL_FROM === undefined) {
    throw new ConfigError('MAIL_FROM: is required with SMTP_URL, as the sender of mails (e.g. "Lectern <lectern@example.org>")')
  }
  const publicUrl = (e.PUBLIC_URL ?? `http://${['0.0.0.0', '::', ''].includes(e.HOST) ? '127.0.0.1' : e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST}:${e.PORT}`).replace(/\/+$/, '')
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: resolve(e.DATA_DIR),
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    s3,
    redisUrl: e.REDIS_URL,
    mongodbUrl: e.MONGODB_URL,
    mongodbOperationTimeoutMs: e.MONGODB_OPERATION_TIMEOUT_MS,
    jwtSecret: e.JWT_SECRET,
    jwtExpiresInSeconds: e.JWT_EXPIRES_IN_S,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_S,
    registration: e.REGISTRATION,
    defaultRole: e.DEFAULT_ROLE,
    invitationTtlSeconds: e.INVITATION_TTL_HOURS * 3600,
    signupConfirmation: e.SIGNUP_CONFIRMATION,
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM ?? 'Lectern <lectern@localhost>' },
    publicUrl,
    quotas: { storageBytes: e.QUOTA_STORAGE_MB * 1024 * 1024, uploads: e.QUOTA_UPLOADS, jobs: e.QUOTA_JOBS },
    idleTimeoutMs: e.HTTP_IDLE_TIMEOUT_S * 1000,
    headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_S * 1000,
    keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_S * 1000,
    playbackTokenTtlSeconds: e.PLAYBACK_TOKEN_TTL_S,
    worker: e.WORKER,
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    hlsSegmentSeconds: e.HLS_SEGMENT_SECONDS,
    sourceLimits: { maxDurationSeconds: e.MAX_DURATION_S, maxFrames: e.MAX_FRAMES, maxPixels: e.MAX_PIXELS },
    cache: {
      memoryBytes: e.CACHE_MEMORY_MB * 1024 * 1024,
      redisTtlSeconds: e.CACHE_REDIS_TTL_S,
      redisMaxValueBytes: e.CACHE_REDIS_MAX_VALUE_MB * 1024 * 1024,
      redisTimeoutMs: e.CACHE_REDIS_TIMEOUT_MS
    },
    uploadMaxBytes: e.UPLOAD_MAX_MB * 1024 * 1024,
    uploadExpiryMs: e.UPLOAD_EXPIRY_HOURS * 3600 * 1000,
    abrEdgeLogPort: e.ABR_EDGE_LOG_PORT,
    metricsToken: e.METRICS_TOKEN,
    metricsPort: e.METRICS_PORT
  }
}
