import t from 'tap'
import { parseUploadMetadata } from '../../src/uploads/upload-metadata.js'
import { consecutiveParts } from '../../src/uploads/upload-record.js'
import { errorBodyFor } from '../../src/uploads/tus-error.js'

t.test('Upload-Metadata becomes the video\'s fields, checked like the multipart form', async (t) => {
  t.same(parseUploadMetadata({ title: '  Geometric   optics ', tags: 'optics, Optics,year 2,', visibility: 'private', filename: 'lec\u0007ture.mp4', filetype: 'video/mp4' }), {
    title: 'Geometric optics', description: '', tags: ['optics', 'year 2'], visibility: 'private', originalName: 'lecture.mp4'
  }, 'tidied, tags split and de-duplicated, the client\'s filetype ignored, control characters dropped from the name')
  t.same(parseUploadMetadata({ title: 'x', name: 'from-uppy.mov' }).originalName, 'from-uppy.mov', 'Uppy\'s "name" is the file name too')
  t.equal(parseUploadMetadata({ title: 'x', filename: null }).originalName, null, 'a key without a value: no name')
  t.same(parseUploadMetadata({ title: 'x', tags: null }).tags, [], 'tags without a value: none')
  t.throws(() => parseUploadMetadata(undefined), { statusCode: 400, message: 'Upload-Metadata: title: is required' })
  t.throws(() => parseUploadMetadata({ title: null }), { message: 'Upload-Metadata: title: must not be empty' }, 'a title key without a value')
  t.throws(() => parseUploadMetadata({ title: 'x', description: 'd'.repeat(5001) }), { message: /description: must be at most 5000 characters/ })
  t.throws(() => parseUploadMetadata({ title: 'x', visibility: 'friends' }), { message: /visibility: must be one of public, unlisted, private/ })
  t.throws(() => parseUploadMetadata({ title: 'x', owner: 'someone' }), { message: /unknown key "owner"/ })
})

t.test('only an unbroken run of parts from 1 counts, the latest upload of each', async (t) => {
  const p = (n: number, etag: string) => ({ n, etag, size: 8 })
  t.same(consecutiveParts([]), [])
  t.same(consecutiveParts([p(2, 'b'), p(1, 'a'), p(3, 'c')]), [p(1, 'a'), p(2, 'b'), p(3, 'c')], 'in any order of completion')
  t.same(consecutiveParts([p(1, 'a'), p(3, 'c')]), [p(1, 'a')], 'a gap ends the run (part 2 failed)')
  t.same(consecutiveParts([p(1, 'a'), p(2, 'b'), p(2, 'b2')]), [p(1, 'a'), p(2, 'b2')], 'a part stored again wins')
  t.same(consecutiveParts([p(2, 'b')]), [], 'no part 1, no bytes')
})

t.test('@tus/server\'s answers said as Lectern errors', async (t) => {
  t.match(errorBodyFor(409, 'Upload-Offset conflict\n'), { statusCode: 409, code: 'LECTERN_ERR_UPLOAD_OFFSET', error: 'Conflict', message: /ask with HEAD/ })
  t.match(errorBodyFor(500, 'failed to acquire lock before timeout'), { statusCode: 423, code: 'LECTERN_ERR_UPLOAD_LOCKED' }, 'a lock not had in time is "try again", not a server error')
  t.match(errorBodyFor(501, 'creation-defer-length extension is not (yet) supported.\n'), { statusCode: 400, message: /Upload-Length: is required/ })
  t.match(errorBodyFor(500, 'Something went wrong with that request\nECONNRESET at 10.0.0.3'), { statusCode: 500, code: 'LECTERN_ERR_INTERNAL', message: 'Something went wrong on our side; it has been logged.' }, 'no internals in a 5xx')
  t.match(errorBodyFor(415, JSON.stringify({ statusCode: 415, code: 'LECTERN_ERR_UNSUPPORTED_MEDIA', error: 'x', message: 'file: looks like text' })), { statusCode: 415, code: 'LECTERN_ERR_UNSUPPORTED_MEDIA', error: 'Unsupported Media Type', message: 'file: looks like text' })
})
