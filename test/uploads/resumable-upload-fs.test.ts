import t from 'tap'
import { resumableUploadContract } from './resumable-upload.contract.js'

// Resumable uploads with objects on disk: the tus files under DATA_DIR/uploads, the original
// hard-linked into DATA_DIR/objects/originals when the last byte arrives.
resumableUploadContract(t, { name: 'fs', env: async () => ({}) })
