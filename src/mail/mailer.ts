import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import nodemailer from 'nodemailer'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'

/** One plain-text mail to one person. */
export interface Mail {
  to: string
  subject: string
  text: string
  /** the link the mail is about; logged when the mail only lands in the outbox, so the operator can pass it on */
  link?: string
}

export interface Mailer {
  /** 'smtp' sends through SMTP_URL; 'outbox' writes .eml files into DATA_DIR/outbox (no SMTP_URL). */
  readonly kind: 'smtp' | 'outbox'
  send (mail: Mail): Promise<void>
  close (): void
}

/** The mailer SMTP_URL and MAIL_FROM describe, or without SMTP_URL one that writes DATA_DIR/outbox/*.eml. */
export function createMailer (config: Pick<Config, 'mail' | 'dataDir'>, log: FastifyBaseLogger): Mailer {
  const from = config.mail.from
  if (config.mail.smtpUrl !== undefined) {
    // Timeouts so that an SMTP server that stops answering does not hold sends forever.
    const transport = nodemailer.createTransport({ url: config.mail.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 })
    return {
      kind: 'smtp',
      async send (mail) {
        await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text })
      },
      close () { transport.close() }
    }
  }
  const outbox = join(config.dataDir, 'outbox')
  // Builds the same RFC 5322 message an SMTP send would, into a Buffer.
  const render = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
  return {
    kind: 'outbox',
    async send (mail) {
      const info = await render.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text })
      await mkdir(outbox, { recursive: true, mode: 0o700 })
      const file = join(outbox, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`)
      // The links in these mails sign people up: readable by Lectern's user only.
      await writeFile(file, info.message as Buffer, { mode: 0o600 })
      log.info({ to: mail.to, subject: mail.subject, file, ...(mail.link !== undefined ? { link: mail.link } : {}) },
        'mail not sent: SMTP_URL is not set, so it was written to the outbox; pass the link on by hand, or set SMTP_URL and MAIL_FROM (see README, Configuration)')
    },
    close () { render.close() }
  }
}
