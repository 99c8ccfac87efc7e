import t from 'tap'
import { describeIssue, splitTagFields, uploadMetadataSchema, videoPatchSchema } from '../../src/api/video-metadata-schema.js'

t.test('titles, tags and descriptions are tidied', async (t) => {
  t.same(uploadMetadataSchema.parse({ title: '  a\u0000b\u0007   c\n d ', description: ' line1\r\nline2\tx\u0000 ', tags: ['x\u0001y', ' Z ', 'z'] }),
    { title: 'ab c d', description: 'line1\nline2\tx', tags: ['xy', 'Z'], visibility: 'public' })
})

t.test('tag fields: comma lists, repeats, empty pieces', async (t) => {
  t.same(splitTagFields(['a, b,,', ' c ', '', 'd ,e']), ['a', 'b', 'c', 'd', 'e'])
})

t.test('problems name the field as the client sent it', async (t) => {
  const message = (input: unknown, schema: typeof uploadMetadataSchema | typeof videoPatchSchema = uploadMetadataSchema) => {
    const r = schema.safeParse(input)
    return r.success ? 'ok' : describeIssue(r.error)
  }
  t.equal(message({}), 'title: is required')
  t.equal(message({ title: 5 }), 'title: must be text')
  t.equal(message({ title: 'x', tags: ['ok', ''] }), 'tags[1]: must not be empty')
  t.equal(message({ title: 'x', visibility: 'PUBLIC' }), 'visibility: must be one of public, unlisted, private')
  t.equal(message({ title: 'x'.repeat(200) }), 'ok', '200 characters is fine')
  t.equal(message({ titel: 'x' }, videoPatchSchema), 'unknown field(s) titel; allowed: title, description, tags, visibility')
})
