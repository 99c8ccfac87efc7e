import { BadRequestError } from '../errors.js'
import {
  describeIssue, splitTagFields, uploadMetadataSchema, type UploadMetadata
} from '../api/video-metadata-schema.js'

/** What a resumable upload is created with: the video's fields and the file's name. */
export interface ResumableUploadFields extends UploadMetadata {
  originalName: string | null
}

/** Keys that tus clients add on their own (tus-js-client, Uppy, tusc): accepted and not used. */
const CLIENT_KEYS = new Set(['filetype', 'type', 'name', 'relativePath', 'contentType', 'mimetype'])
const FIELD_KEYS = new Set(['title', 'description', 'tags', 'visibility', 'filename'])

/**
 * The video's fields from a parsed `Upload-Metadata` header (tus's base64 pairs, already
 * decoded), validated as the multipart upload validates its form fields. A problem is a
 * BadRequestError naming the field, so the upload is refused before a byte is stored.
 */
export function parseUploadMetadata (metadata: Record<string, string | null> | undefined): ResumableUploadFields {
  const input: Record<string, unknown> = {}
  const given = metadata ?? {}
  for (const key of Object.keys(given)) {
    if (!FIELD_KEYS.has(key) && !CLIENT_KEYS.has(key)) {
      throw new BadRequestError(`Upload-Metadata: has an unknown key "${key.slice(0, 40)}"; send title, description, tags, visibility, filename`)
    }
  }
  for (const name of ['title', 'description', 'visibility'] as const) {
    const value = given[name]
    if (value === undefined) continue
    // A key without a value (tus allows it) is an empty field.
    input[name] = value ?? ''
  }
  if (given.tags !== undefined) input.tags = splitTagFields([given.tags ?? ''])
  const parsed = uploadMetadataSchema.safeParse(input)
  if (!parsed.success) throw new BadRequestError(`Upload-Metadata: ${describeIssue(parsed.error)}`)
  const rawName = given.filename ?? given.name ?? null
  // Control characters have no place in a file name shown back to the user.
  // eslint-disable-next-line no-control-regex
  const name = rawName === null ? '' : rawName.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255)
  return { ...parsed.data, originalName: name === '' ? null : name }
}
