import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { FastifyBaseLogger } from 'fastify'

export interface CapturedLine {
  level: number
  msg: string
  [field: string]: unknown
}

/** A real pino logger whose JSON lines are collected in memory, for tests that check what was logged. */
export function captureLogger (level: pino.LevelWithSilent = 'info'): { log: FastifyBaseLogger, lines: CapturedLine[] } {
  const lines: CapturedLine[] = []
  const sink = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as CapturedLine)
      }
      callback()
    }
  })
  return { log: pino({ level }, sink) as unknown as FastifyBaseLogger, lines }
}
