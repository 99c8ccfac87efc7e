import { spawn } from 'node:child_process'
import { setPriority } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import { setSafeTimeout } from '../src/safe-timeout.js'

/** The part of a logger the transcoder needs (pino and Fastify's logger both fit). */
export type TranscodeLog = Pick<FastifyBaseLogger, 'debug' | 'info' | 'warn' | 'error'>

export interface RunProcessOptions {
  /** Wall-clock limit; the process is killed when it runs longer. */
  timeoutMs: number
  signal?: AbortSignal
  /** Called with each chunk of stdout (ffmpeg `-progress pipe:1`). */
  onStdout?: (chunk: string) => void
  /** Collect stdout into the result (ffprobe JSON). */
  captureStdout?: boolean
  log?: TranscodeLog
  /** Time between SIGTERM and SIGKILL. */
  killGraceMs?: number
  cwd?: string
  /** Scheduling niceness (0..19) for the child: a transcode should yield the CPU to the API. */
  niceness?: number
}

export interface ProcessResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  /** The last few KiB of stderr, for failure reasons. */
  stderrTail: string
  durationMs: number
}

/** Why a child process did not finish by itself. */
export class ProcessError extends Error {
  override name = 'ProcessError'
  constructor (
    message: string,
    readonly reason: 'exit' | 'timeout' | 'aborted' | 'spawn',
    readonly result: ProcessResult | null
  ) {
    super(message)
  }
}

const STDERR_TAIL_BYTES = 4096
const MAX_STDOUT_BYTES = 16 * 1024 * 1024

/** The last lines of a stderr tail, trimmed to what is useful in a failure reason. */
export function lastLines (text: string, lines = 4, maxChars = 600): string {
  const kept = text.trim().split(/\r?\n/).filter((l) => l.trim() !== '').slice(-lines).join(' | ')
  return kept.length > maxChars ? '…' + kept.slice(-maxChars) : kept
}

/**
 * Runs a binary with an argument array (never a shell), a wall-clock timeout and a kill on abort
 * (SIGTERM, then SIGKILL after a grace period). Resolves with the result only when the process
 * exits with code 0; otherwise rejects with a ProcessError carrying the stderr tail.
 */
export function runProcess (command: string, args: string[], options: RunProcessOptions): Promise<ProcessResult> {
  const { timeoutMs, signal, onStdout, captureStdout = false, log, killGraceMs = 2000 } = options
  const started = Date.now()
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new ProcessError(`${command} not started: aborted`, 'aborted', null))
      return
    }
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd, shell: false })
    if (options.niceness !== undefined && child.pid !== undefined) {
      try {
        setPriority(child.pid, options.niceness)
      } catch (err) {
        log?.debug({ cmd: command, err: (err as Error).message }, 'could not lower the child priority')
      }
    }
    let stdout = ''
    let stdoutBytes = 0
    let stderrTail = ''
    let stderrLine = ''
    let killedFor: 'timeout' | 'aborted' | null = null
    let graceTimer: NodeJS.Timeout | undefined

    const kill = (why: 'timeout' | 'aborted') => {
      if (killedFor !== null || child.exitCode !== null || child.signalCode !== null) return
      killedFor = why
      child.kill('SIGTERM')
      graceTimer = setTimeout(() => { child.kill('SIGKILL') }, killGraceMs)
      graceTimer.unref()
    }
    // Computed from the content's length: it may exceed what a plain setTimeout can hold.
    const timer = setSafeTimeout(() => kill('timeout'), timeoutMs)
    const onAbort = () => kill('aborted')
    signal?.addEventListener('abort', onAbort, { once: true })

    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      if (captureStdout && stdoutBytes < MAX_STDOUT_BYTES) {
        stdout += chunk
        stdoutBytes += chunk.length
      }
      onStdout?.(chunk)
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES)
      if (log !== undefined) {
        const lines = (stderrLine + chunk).split(/\r?\n|\r/)
        stderrLine = lines.pop() ?? ''
        for (const line of lines) if (line.trim() !== '') log.debug({ cmd: command, stderr: line }, 'child stderr')
      }
    })

    let settled = false
    const finish = (err: ProcessError | null, result: ProcessResult | null) => {
      if (settled) return
      settled = true
      timer.clear()
      clearTimeout(graceTimer)
      signal?.removeEventListener('abort', onAbort)
      if (err !== null) reject(err)
      else resolve(result!)
    }

    child.on('error', (err) => {
      finish(new ProcessError(`${command} could not be started: ${err.message}`, 'spawn', null), null)
    })
    child.on('close', (code, sig) => {
      if (log !== undefined && stderrLine.trim() !== '') log.debug({ cmd: command, stderr: stderrLine }, 'child stderr')
      const result: ProcessResult = { code, signal: sig, stdout, stderrTail, durationMs: Date.now() - started }
      if (killedFor === 'timeout') {
        finish(new ProcessError(`${command} ran longer than ${Math.round(timeoutMs / 1000)} s and was killed`, 'timeout', result), null)
      } else if (killedFor === 'aborted') {
        finish(new ProcessError(`${command} was stopped`, 'aborted', result), null)
      } else if (code !== 0) {
        const tail = lastLines(stderrTail)
        finish(new ProcessError(`${command} exited with ${code ?? sig}${tail !== '' ? ': ' + tail : ''}`, 'exit', result), null)
      } else {
        finish(null, result)
      }
    })
  })
}
