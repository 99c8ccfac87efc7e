import { Readable, addAbortSignal } from 'node:stream'
import {
  S3Client,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type _Object as S3Object
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import type { FastifyBaseLogger } from 'fastify'
import type { InitializeMiddleware, MetadataBearer } from '@smithy/types'
import type { S3Config } from '../config.js'
import { ObjectNotFoundError, RangeNotSatisfiableError, StorageUnavailableError, unreachableReason } from '../errors.js'
import { dependencyOutages } from '../dependency-outages.js'
import type { ByteRange, GetOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store.js'
import { assertValidKey, assertValidPrefix, compareKeys } from './object-key.js'
import { assertValidRange } from './assert-valid-range.js'
import { SOCKET_IDLE_TIMEOUT_MS, s3ClientConfig } from './s3-client-config.js'

/** 8 MiB parts: 80 GB objects within S3's 10,000-part cap, and a bounded buffer per upload. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024
/** Parts in flight per upload; memory per upload is about (queueSize + 1) * partSize. */
export const DEFAULT_QUEUE_SIZE = 3
/** DeleteObjects takes at most 1000 keys, ListObjectsV2 returns at most 1000 per page. */
const PAGE_SIZE = 1000
/**
 * A paused reader (a slow viewer) holds its socket for as long as it reads; the SDK default
 * of 50 sockets would let a few dozen slow viewers starve everyone else.
 */
const MAX_SOCKETS = 512

export interface S3ObjectStoreOptions {
  config: S3Config
  log?: FastifyBaseLogger
  partSize?: number
  queueSize?: number
}

interface SdkError {
  name?: string
  message?: string
  $metadata?: { httpStatusCode?: number }
}

function abortError (signal: AbortSignal): Error {
  return Object.assign(new Error('The put was aborted; nothing was stored'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason })
}

function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function rangeHeader (range: ByteRange | undefined): string | undefined {
  // Always explicit bytes=a-b: suffix forms are mishandled by some S3-compatible stores.
  return range === undefined ? undefined : `bytes=${range.start}-${range.end}`
}

function * slices (buf: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < buf.length; offset += size) yield buf.subarray(offset, offset + size)
}

/** Passes on the first length bytes of source, then ends it (which frees its connection). */
function truncate (source: Readable, length: number): Readable {
  async function * firstBytes () {
    let remaining = length
    for await (const chunk of source) {
      const buf = chunk as Buffer
      if (buf.length >= remaining) {
        yield buf.subarray(0, remaining)
        return
      }
      remaining -= buf.length
      yield buf
    }
  }
  return Readable.from(firstBytes(), { objectMode: false })
}

/**
 * The requested range out of a response body, whatever the store did with the Range header:
 * some ignore it (200, the whole object) or widen it (s3rver reads "bytes=0-0" as "bytes=0-").
 * A body that starts at the right byte is cut to length; any other answer is an error, never
 * bytes passed off as the wrong range.
 */
function exactRange (body: Readable, range: ByteRange, contentRange: string | undefined, contentLength: number | undefined): Readable {
  let first: number
  let last: number
  let total: number | undefined
  if (contentRange === undefined) {
    if (contentLength === undefined) throw new Error('neither Content-Range nor Content-Length')
    first = 0
    last = contentLength - 1
    total = contentLength
  } else {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange)
    if (m === null) throw new Error(`an unreadable Content-Range "${contentRange}"`)
    first = Number(m[1])
    last = Number(m[2])
    total = m[3] === '*' ? undefined : Number(m[3])
  }
  const wantedLast = total === undefined ? range.end : Math.min(range.end, total - 1)
  if (first !== range.start || last < wantedLast) {
    throw new Error(`bytes ${first}-${last}${total === undefined ? '' : '/' + total}`)
  }
  return last === wantedLast ? body : truncate(body, wantedLast - range.start + 1)
}

const UNAVAILABLE_STATUSES = new Set([502, 503, 504])
/** See S3ObjectStore.delete: how long the store must have answered again before a key goes once more. */
const REDELETE_AFTER_MS = 5000
/** About an hour of tries at REDELETE_AFTER_MS. */
const REDELETE_TRIES = 720

/**
 * Around every call of the client, retries included (the initialize step): a call that could not
 * reach the store becomes StorageUnavailableError (a 503 that names no host) and opens a storage
 * outage; any answer from the store, even a 404, ends it.
 */
const unreachableAsUnavailable: InitializeMiddleware<object, MetadataBearer> = (next) => async (args) => {
  const outages = dependencyOutages.storage
  try {
    const out = await next(args)
    outages.up()
    return out
  } catch (err) {
    const status = (err as SdkError)?.$metadata?.httpStatusCode
    const reason = unreachableReason(err) ?? (status !== undefined && UNAVAILABLE_STATUSES.has(status) ? `answered ${status}` : undefined)
    if (reason === undefined) {
      if (status !== undefined) outages.up()
      throw err
    }
    outages.down(reason)
    throw new StorageUnavailableError({ cause: err })
  }
}

/**
 * Objects in one S3 bucket (AWS, or any S3-compatible store through S3_ENDPOINT). Puts go
 * through multipart uploads that never hold more than a few parts in memory; a failed or aborted
 * put aborts its multipart upload, so the key is left as it was.
 */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const
  readonly bucket: string
  readonly client: S3Client
  /** The same store without the SDK's retries, for puts while an outage is going on. */
  private readonly clientOnce: S3Client
  private readonly partSize: number
  private readonly queueSize: number
  private readonly log: FastifyBaseLogger | undefined
  /** The whole of a call with no body to send, retries included: see bounded(). */
  private readonly callTimeoutMs: number
  /** Keys of puts the store did not answer (see delete), and their pending deletes. */
  private readonly unanswered = new Set<string>()
  private readonly redeletes = new Map<string, NodeJS.Timeout>()

  constructor ({ config, log, partSize = DEFAULT_PART_SIZE, queueSize = DEFAULT_QUEUE_SIZE }: S3ObjectStoreOptions) {
    this.bucket = config.bucket
    this.callTimeoutMs = config.socketTimeoutMs ?? SOCKET_IDLE_TIMEOUT_MS
    this.partSize = partSize
    this.queueSize = queueSize
    this.log = log
    const clientConfig = s3ClientConfig(config, MAX_SOCKETS)
    this.client = new S3Client(clientConfig)
    // One set of sockets for both: the agents are in the shared requestHandler options.
    this.clientOnce = new S3Client({ ...clientConfig, maxAttempts: 1 })
    for (const client of [this.client, this.clientOnce]) {
      client.middlewareStack.add(unreachableAsUnavailable, { step: 'initialize', name: 'lecternUnreachableAsUnavailable' })
    }
  }

  async put (key: string, body: Readable | Buffer, options: PutOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key)
    const { signal, contentType } = options
    if (isAborted(signal)) throw abortError(signal!)
    // A Buffer is fed in part-sized slices when it can be aborted: the uploader notices a failed
    // source only between slices.
    const stream = Buffer.isBuffer(body)
      ? (signal !== undefined ? Readable.from(slices(body, this.partSize)) : undefined)
      : body
    // Aborting by failing the source (rather than upload.abort(), whose promise settles before
    // the multipart upload is cleaned up) means put settles only once nothing is left behind.
    let sourceError: unknown
    const onSourceError = (err: unknown) => { sourceError = err }
    const onAbort = () => { stream?.destroy(abortError(signal!)) }
    stream?.once('error', onSourceError)
    signal?.addEventListener('abort', onAbort, { once: true })
    const upload = new Upload({
      // Retrying a store that accepts connections but does not answer only multiplies the wait.
      client: dependencyOutages.storage.isDown ? this.clientOnce : this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: stream ?? body,
        ...(contentType !== undefined ? { ContentType: contentType } : {})
      },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false
    })
    try {
      await upload.done()
    } catch (err) {
      // Like a pipeline: a failed put does not leave its source paused mid-stream.
      stream?.destroy()
      if (sourceError !== undefined && err !== sourceError) {
        // The source failed first; err is then the failure to abort the multipart upload.
        this.log?.warn({ err, key, bucket: this.bucket }, 'could not abort a failed multipart upload; its parts stay until a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes them')
      }
      if (err instanceof StorageUnavailableError) this.unanswered.add(key)
      // Checked again here: the signal may have fired since the check above.
      if (isAborted(signal)) throw abortError(signal!)
      throw sourceError ?? err
    } finally {
      signal?.removeEventListener('abort', onAbort)
      stream?.off('error', onSourceError)
    }
    this.unanswered.delete(key)
    // An abort that arrives once the last byte is sent cannot undo the write: the put stands.
    return await this.head(key)
  }

  async get (key: string, options: GetOptions = {}): Promise<Readable> {
    assertValidKey(key)
    const { range, signal } = options
    if (range !== undefined) assertValidRange(range)
    signal?.throwIfAborted()
    let out
    try {
      out = await this.bounded((abortSignal) => this.client.send(new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Range: rangeHeader(range)
      }), { abortSignal }), signal)
    } catch (err) {
      throw this.translate(err, key, range)
    }
    const body = out.Body
    if (!(body instanceof Readable)) {
      throw new Error(`S3 GetObject for "${key}" returned no readable body`)
    }
    // From here the reader sets the pace (a paused viewer): the idle timeout of s3ClientConfig
    // would cut a body that is only waiting for it.
    ;(body as Readable & { socket?: { setTimeout?: (ms: number) => unknown } }).socket?.setTimeout?.(0)
    let stream: Readable = body
    if (range !== undefined) {
      try {
        stream = exactRange(body, range, out.ContentRange, out.ContentLength)
      } catch (err) {
        body.destroy()
        throw new Error(`S3 answered a request for bytes ${range.start}-${range.end} of "${key}" with ${(err as Error).message}`)
      }
    }
    if (signal !== undefined) addAbortSignal(signal, stream)
    return stream
  }

  async head (key: string): Promise<ObjectInfo> {
    assertValidKey(key)
    let out
    try {
      out = await this.bounded((abortSignal) => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal }))
    } catch (err) {
      throw this.translate(err, key)
    }
    if (out.ETag === undefined || out.ContentLength === undefined || out.LastModified === undefined) {
      throw new Error(`S3 HeadObject for "${key}" lacks ETag, Content-Length or Last-Modified`)
    }
    return { key, size: out.ContentLength, etag: out.ETag, lastModified: out.LastModified }
  }

  /**
   * A key whose put the store never answered (it hung) may still be written when the store goes
   * on and reads the requests it buffered meanwhile, possibly after this delete, which it buffered
   * too (s3rver then even stores the cut body, 0 bytes). Such a key is deleted once more when the
   * store has answered again for a few seconds, unless a put of it has succeeded since.
   */
  async delete (key: string): Promise<void> {
    assertValidKey(key)
    try {
      // S3 answers 204 for a missing key too: idempotent by nature.
      await this.bounded((abortSignal) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal }))
    } finally {
      if (this.unanswered.has(key)) this.redeleteLater(key, REDELETE_TRIES)
    }
  }

  private redeleteLater (key: string, tries: number): void {
    clearTimeout(this.redeletes.get(key))
    const timer = setTimeout(() => {
      this.redeletes.delete(key)
      if (!this.unanswered.has(key) || tries <= 0) {
        this.unanswered.delete(key)
        return
      }
      const outages = dependencyOutages.storage
      const lastEnd = outages.recent()[0]?.to
      if (outages.isDown || (lastEnd != null && Date.now() - Date.parse(lastEnd) < REDELETE_AFTER_MS)) {
        this.redeleteLater(key, tries - 1)
        return
      }
      this.bounded((abortSignal) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal })).then(() => {
        this.unanswered.delete(key)
        this.log?.info({ key }, 'deleted once more the key of a put the store had not answered')
      }, () => { this.redeleteLater(key, tries - 1) })
    }, REDELETE_AFTER_MS)
    timer.unref()
    this.redeletes.set(key, timer)
  }

  async deletePrefix (prefix: string): Promise<number> {
    assertValidPrefix(prefix)
    let deleted = 0
    // Page by page: a prefix of any size is deleted without holding all its keys.
    for await (const page of this.pages(prefix)) {
      if (page.length === 0) continue
      const out = await this.bounded((abortSignal) => this.client.send(new DeleteObjectsCommand({
        Bucket: this.bucket,
        Delete: { Objects: page.map(({ key }) => ({ Key: key })), Quiet: true }
      }), { abortSignal }))
      const errors = out.Errors ?? []
      if (errors.length > 0) {
        const first = errors[0]!
        throw new Error(`S3 could not delete ${errors.length} of ${page.length} objects under "${prefix}"; first: "${first.Key ?? '?'}": ${first.Code ?? ''} ${first.Message ?? ''}`.trim())
      }
      deleted += page.length
    }
    return deleted
  }

  async list (prefix: string): Promise<ObjectInfo[]> {
    assertValidPrefix(prefix)
    const found: ObjectInfo[] = []
    for await (const page of this.pages(prefix)) found.push(...page)
    // S3 lists in UTF-8 byte order already; not every compatible store does.
    return found.sort((a, b) => compareKeys(a.key, b.key))
  }

  async probe (signal?: AbortSignal): Promise<void> {
    await this.bounded((abortSignal) => this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }), signal)
  }

  async close (): Promise<void> {
    for (const timer of this.redeletes.values()) clearTimeout(timer)
    this.redeletes.clear()
    this.client.destroy()
    this.clientOnce.destroy()
  }

  /** ListObjectsV2 pages, without a delimiter (some stores drop keys from delimited listings). */
  private async * pages (prefix: string): AsyncGenerator<ObjectInfo[]> {
    let token: string | undefined
    do {
      const out = await this.bounded((abortSignal) => this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix === '' ? undefined : prefix,
        MaxKeys: PAGE_SIZE,
        ContinuationToken: token
      }), { abortSignal }))
      yield (out.Contents ?? []).filter((o): o is S3Object & { Key: string } => o.Key !== undefined).map((o) => ({
        key: o.Key,
        size: o.Size ?? 0,
        etag: o.ETag ?? '""',
        lastModified: o.LastModified ?? new Date(0)
      }))
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined
    } while (token !== undefined)
  }

  /**
   * A call with no body to send (a head, a read until its first byte, a delete, a list page):
   * one socket timeout in all, retries included, so a store that accepts connections but never
   * answers costs a request that long, not one timeout per attempt. Calls that send a body (the
   * parts of a put) keep the idle timeout alone: a slow but moving part is never cut. The
   * deadline ends once the call is answered (a read's body then goes at its reader's pace).
   */
  private async bounded<T> (call: (abortSignal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const deadline = new AbortController()
    const timer = setTimeout(() => deadline.abort(), this.callTimeoutMs)
    try {
      return await call(signal === undefined ? deadline.signal : AbortSignal.any([signal, deadline.signal]))
    } catch (err) {
      if (!deadline.signal.aborted || signal?.aborted === true) throw err
      dependencyOutages.storage.down('timed out')
      throw new StorageUnavailableError({ cause: err })
    } finally {
      clearTimeout(timer)
    }
  }

  private translate (err: unknown, key: string, range?: ByteRange): unknown {
    const e = err as SdkError
    const status = e?.$metadata?.httpStatusCode
    // HEAD has no body, so a missing bucket also reads as NotFound there; GET can tell them apart.
    if (e?.name === 'NoSuchKey' || e?.name === 'NotFound' || (status === 404 && e?.name !== 'NoSuchBucket')) {
      return new ObjectNotFoundError(key)
    }
    if (e?.name === 'InvalidRange' || status === 416) {
      return new RangeNotSatisfiableError(`Range ${range?.start ?? '?'}-${range?.end ?? '?'} starts at or past the end of "${key}"`)
    }
    return err
  }
}
