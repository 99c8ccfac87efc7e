import { randomBytes } from 'node:crypto'

export type FormPart =
  | { name: string, value: string }
  | { name: string, filename: string, content: Buffer, type?: string }

/** A multipart/form-data body built by hand, parts in the given order. */
export function multipartBody (parts: FormPart[]): { payload: Buffer, headers: Record<string, string> } {
  const boundary = '----lectern' + randomBytes(8).toString('hex')
  const chunks: Buffer[] = []
  for (const part of parts) {
    if ('value' in part) {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`))
    } else {
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
        `Content-Type: ${part.type ?? 'video/mp4'}\r\n\r\n`))
      chunks.push(part.content, Buffer.from('\r\n'))
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

/** The start of an ISO-BMFF (MP4) file: enough for the upload sniff; the transcoder's probe is not involved. */
export const MP4_HEAD = Buffer.from('000000206674797069736f6d0000020069736f6d69736f32617663316d703431', 'hex')

/** Bytes that begin like an MP4, followed by size - 32 random bytes. */
export function fakeVideo (size = 64 * 1024): Buffer {
  return Buffer.concat([MP4_HEAD, randomBytes(Math.max(0, size - MP4_HEAD.length))])
}
