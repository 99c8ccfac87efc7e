// Uploads a video to Lectern over tus, resuming where an earlier run stopped.
//   LECTERN=https://lectern.example.org TOKEN=<access token> node resumable-upload.mjs lecture.mp4 "Geometric optics"
// Run it again after any failure (Wi-Fi gone, laptop asleep, ^C): it goes on from the server's offset.
import { createReadStream } from 'node:fs'
import { basename } from 'node:path'
import * as tus from 'tus-js-client'

const [file, title = basename(file ?? '')] = process.argv.slice(2)
if (file === undefined || process.env.LECTERN === undefined || process.env.TOKEN === undefined) {
  console.error('usage: LECTERN=<url> TOKEN=<access token> node resumable-upload.mjs <file> [title]')
  process.exit(2)
}

const upload = new tus.Upload(createReadStream(file), {
  endpoint: `${process.env.LECTERN}/api/uploads`,
  headers: { Authorization: `Bearer ${process.env.TOKEN}` },
  metadata: { title, filename: basename(file), visibility: 'unlisted' },
  chunkSize: 64 * 1024 * 1024,
  retryDelays: [0, 1000, 3000, 5000, 10000, 30000],
  // Remembers unfinished uploads (by file path, size and mtime) across runs.
  urlStorage: new tus.FileUrlStorage(process.env.TUS_STATE ?? '.lectern-uploads.json'),
  removeFingerprintOnSuccess: true,
  onProgress: (sent, total) => process.stdout.write(`sent ${sent} of ${total}\n`),
  onError: (err) => { console.error(`failed: ${err.message}`); process.exit(1) },
  // The upload's id is the id of the video it became.
  onSuccess: () => console.log(`video ${new URL(upload.url).pathname.split('/').pop()}`)
})
const previous = await upload.findPreviousUploads()
if (previous.length > 0) {
  console.log(`resuming ${previous[0].uploadUrl}`)
  upload.resumeFromPreviousUpload(previous[0])
}
upload.start()
