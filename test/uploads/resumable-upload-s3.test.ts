import t from 'tap'
import { s3ServerFor } from '../helpers/s3-server.js'
import { resumableUploadContract } from './resumable-upload.contract.js'

// Resumable uploads with objects on S3 (s3rver): an S3 multipart upload at originals/<id>, its
// tus bookkeeping under uploads/, and the same guarantees as on disk.
resumableUploadContract(t, {
  name: 's3',
  env: async (t) => (await s3ServerFor(t)).env
})
