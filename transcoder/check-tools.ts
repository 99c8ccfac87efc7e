import type { Config } from '../src/config.js'
import { runProcess, ProcessError, lastLines } from './run-process.js'

const VERSION_TIMEOUT_MS = 10_000

export interface ToolsCheck {
  /** null when both run; else one sentence for operators, without the configured paths */
  problem: string | null
  /** what each binary says it is ("ffmpeg version 5.1.6-0+deb12u1 ..."), for the log */
  versions: string[]
  /** the same sentence with the configured paths and the raw error, for the log only */
  logDetail: string | null
}

/**
 * Runs `ffmpeg -version` and `ffprobe -version`: a missing binary, one that exits with an error,
 * or one that is not ffmpeg at all would otherwise fail every upload after its retries.
 */
export async function checkTools (config: Pick<Config, 'ffmpegPath' | 'ffprobePath'>): Promise<ToolsCheck> {
  const versions: string[] = []
  for (const [tool, path, variable] of [['ffmpeg', config.ffmpegPath, 'FFMPEG_PATH'], ['ffprobe', config.ffprobePath, 'FFPROBE_PATH']] as const) {
    const fix = `install ffmpeg 5 or later with libx264 (apt-get install -y ffmpeg), or point ${variable} at it`
    try {
      const r = await runProcess(path, ['-hide_banner', '-version'], { timeoutMs: VERSION_TIMEOUT_MS, captureStdout: true })
      const first = r.stdout.split('\n')[0]?.trim() ?? ''
      if (!first.startsWith(`${tool} version`)) {
        return failed(`${tool} (${variable}) does not answer -version as ${tool} does; ${fix}`, `${path} -version printed ${JSON.stringify(first.slice(0, 120))}`)
      }
      versions.push(first)
    } catch (err) {
      const why = err instanceof ProcessError && err.reason === 'spawn'
        ? 'could not be started (not found or not executable)'
        : err instanceof ProcessError && err.reason === 'timeout'
          ? `did not answer -version within ${VERSION_TIMEOUT_MS / 1000} s`
          : `failed on -version (exit ${(err as ProcessError).result?.code ?? 'unknown'})`
      const tail = err instanceof ProcessError ? lastLines(err.result?.stderrTail ?? '', 2, 300) : ''
      return failed(`${tool} (${variable}) ${why}; ${fix}`, `${path}: ${(err as Error).message}${tail !== '' && !(err as Error).message.includes(tail) ? ' | ' + tail : ''}`)
    }
  }
  return { problem: null, versions, logDetail: null }

  function failed (problem: string, raw: string): ToolsCheck {
    return { problem, versions, logDetail: `${problem} (${raw})` }
  }
}
