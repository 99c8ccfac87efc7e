import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  /** RCPT TO addresses */
  to: string[]
  /** the whole message as sent */
  raw: string
  subject: string
  /** the body, quoted-printable or base64 decoded */
  text: string
}

const USER = 'lectern'
const PASSWORD = 'smtp test password'

/** Decodes the single text/plain part nodemailer sends for a mail with `text` only. */
export function decodeMail (raw: string): { subject: string, text: string } {
  const split = raw.indexOf('\n\n') >= 0 && (raw.indexOf('\r\n\r\n') < 0 || raw.indexOf('\n\n') < raw.indexOf('\r\n\r\n'))
    ? raw.indexOf('\n\n') + 2
    : raw.indexOf('\r\n\r\n') + 4
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, ' ')
  const body = raw.slice(split)
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? ''
  let subject = header('Subject')
  // RFC 2047 words (nodemailer encodes a subject with non-ASCII; ours are ASCII, but be safe).
  subject = subject.replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_m, enc: string, data: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : qp(data.replace(/_/g, ' ')))
  const encoding = header('Content-Transfer-Encoding').toLowerCase()
  const text = encoding === 'quoted-printable' ? qp(body) : encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body
  return { subject, text: text.replace(/\r\n/g, '\n') }
}

function qp (s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => `%${hex}`)
  return decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, '%25'))
}

/**
 * A real SMTP server (smtp-server, from nodemailer's authors) on 127.0.0.1:0 in this process,
 * requiring a user and password, keeping what it receives. `url` is an SMTP_URL for it.
 */
export async function startSmtpSink (t: Test): Promise<{ url: string, mails: ReceivedMail[], next: (count?: number) => Promise<ReceivedMail[]> }> {
  const mails: ReceivedMail[] = []
  const server = new SMTPServer({
    // Plain SMTP on loopback: no certificate to make, and AUTH allowed without TLS.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth (auth, _session, callback) {
      if (auth.username === USER && auth.password === PASSWORD) callback(null, { user: USER })
      else callback(new Error('bad user or password'))
    },
    onData (stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, ...decodeMail(raw) })
        callback()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.server.address() as AddressInfo
  let taken = 0
  /** The next `count` mails (waits for them, up to 20 s). */
  async function next (count = 1): Promise<ReceivedMail[]> {
    for (let i = 0; mails.length < taken + count; i++) {
      if (i > 400) throw new Error(`expected ${count} more mail(s), got ${mails.length - taken} within 20 s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const got = mails.slice(taken, taken + count)
    taken += count
    return got
  }
  return { url: `smtp://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`, mails, next }
}
