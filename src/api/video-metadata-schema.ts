import { z } from 'zod'

export const TITLE_MAX = 200
export const DESCRIPTION_MAX = 5000
export const TAGS_MAX = 20
export const TAG_MAX = 40

/**
 * Collapses runs of whitespace so `"  intro   to  x "` and `"intro to x"` are one title or tag,
 * and drops control characters, which no title needs and which break logs and terminals.
 */
const tidy = (s: string) => s.replace(/\s+/g, ' ').replace(/\p{Cc}/gu, '').trim()

export const titleSchema = z.string({ error: (issue) => issue.input === undefined ? 'is required' : 'must be text' })
  .transform(tidy)
  .pipe(z.string().min(1, 'must not be empty').max(TITLE_MAX, `must be at most ${TITLE_MAX} characters`))

// Descriptions keep their line breaks and tabs; other control characters go.
export const descriptionSchema = z.string()
  .transform((s) => s.replace(/[^\P{Cc}\n\t]/gu, '').trim())
  .pipe(z.string().max(DESCRIPTION_MAX, `must be at most ${DESCRIPTION_MAX} characters`))

export const tagSchema = z.string()
  .transform(tidy)
  .pipe(z.string().min(1, 'must not be empty').max(TAG_MAX, `must be at most ${TAG_MAX} characters`))

/** Tags compare case-insensitively: the first spelling of a tag wins. */
export function dedupeTags (tags: string[]): string[] {
  const seen = new Set<string>()
  return tags.filter((tag) => {
    const key = tag.toLocaleLowerCase('en')
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

export const tagsSchema = z.array(tagSchema)
  .transform(dedupeTags)
  .pipe(z.array(z.string()).max(TAGS_MAX, `must have at most ${TAGS_MAX} tags`))

export const visibilitySchema = z.enum(['public', 'unlisted', 'private'], { error: 'must be one of public, unlisted, private' })

/**
 * Tags as a form sends them: one comma-separated field, the field repeated, or both. Empty
 * pieces (a trailing comma) are dropped rather than refused.
 */
export function splitTagFields (values: string[]): string[] {
  return values.flatMap((v) => v.split(',')).map(tidy).filter((t) => t !== '')
}

/** The metadata an upload carries, after defaults. */
export const uploadMetadataSchema = z.object({
  title: titleSchema,
  description: descriptionSchema.default(''),
  tags: tagsSchema.default([]),
  visibility: visibilitySchema.default('public')
})

export type UploadMetadata = z.infer<typeof uploadMetadataSchema>

export const videoPatchSchema = z.strictObject({
  title: titleSchema.optional(),
  description: descriptionSchema.optional(),
  tags: tagsSchema.optional(),
  visibility: visibilitySchema.optional()
}, { error: (issue) => issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}; allowed: title, description, tags, visibility` : undefined })
  .refine((p) => Object.values(p).some((v) => v !== undefined), 'give at least one of title, description, tags, visibility')

/** `field: message` for the first problem, naming the field as the client sent it. */
export function describeIssue (error: z.ZodError): string {
  const issue = error.issues[0]!
  const path = issue.path.map((p, i) => typeof p === 'number' ? `[${p}]` : (i === 0 ? String(p) : `.${String(p)}`)).join('')
  return path === '' ? issue.message : `${path}: ${issue.message}`
}
