import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Test } from 'tap'

// What a test needs from the machine, and one rule for when it is missing: under CI the test
// fails (CI installs everything and must not pass by skipping); elsewhere it is skipped with the
// reason printed.

/** CI is on when CI is set to anything but '', 'false' or '0'. */
export function underCi (env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase()
  return value !== undefined && value !== '' && value !== 'false' && value !== '0'
}

export type Tool = 'ffmpeg' | 'ffprobe' | 'curl' | 'nginx' | 'chromium'

const INSTALL: Record<Tool, string> = {
  ffmpeg: 'apt-get install -y ffmpeg',
  ffprobe: 'apt-get install -y ffmpeg',
  curl: 'apt-get install -y curl',
  nginx: 'apt-get install -y nginx',
  chromium: 'apt-get install -y chromium'
}

/** The command a test runs for a tool (FFMPEG_PATH, FFPROBE_PATH, CHROMIUM_PATH, NGINX_PATH override). */
export function toolPath (tool: Tool): string {
  switch (tool) {
    case 'ffmpeg': return process.env.FFMPEG_PATH ?? 'ffmpeg'
    case 'ffprobe': return process.env.FFPROBE_PATH ?? 'ffprobe'
    case 'chromium': return process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
    case 'nginx': return process.env.NGINX_PATH ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx')
    case 'curl': return 'curl'
  }
}

const checked = new Map<Tool, string | undefined>()

/** Why a tool cannot run here, or undefined if it can. */
export function toolMissing (tool: Tool): string | undefined {
  if (checked.has(tool)) return checked.get(tool)
  const command = toolPath(tool)
  const args = tool === 'nginx' ? ['-v'] : tool === 'ffmpeg' || tool === 'ffprobe' ? ['-version'] : ['--version']
  const probe = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 })
  const why = probe.error !== undefined
    ? `${command} is not runnable (${probe.error.message}); install it with ${INSTALL[tool]}`
    : probe.status !== 0 ? `${command} ${args.join(' ')} exited with ${probe.status}: ${(probe.stderr ?? '').trim().slice(0, 300)}` : undefined
  checked.set(tool, why)
  return why
}

function missingOf (tools: Tool[]): string | undefined {
  const reasons = tools.map(toolMissing).filter((why): why is string => why !== undefined)
  return reasons.length === 0 ? undefined : reasons.join('; ')
}

/**
 * For one test: true when every tool runs. Otherwise a failure under CI, a skip (reason printed)
 * elsewhere, and false: the caller returns.
 */
export function requireTools (t: Test, ...tools: Tool[]): boolean {
  const missing = missingOf(tools)
  if (missing === undefined) return true
  if (underCi()) {
    t.fail(`required in CI: ${missing}`)
  } else {
    t.comment(`skipping: ${missing}`)
    t.plan(0, missing)
  }
  return false
}

/**
 * For a whole test file, called before anything else at its top level: returns when every tool
 * runs. Otherwise it throws under CI, and elsewhere skips the file with its reason and exits.
 */
export function requireToolsForFile (t: Test, ...tools: Tool[]): void {
  const missing = missingOf(tools)
  if (missing === undefined) return
  if (underCi()) throw new Error(`required in CI (.ci/run installs it): ${missing}`)
  t.comment(`skipping: ${missing}`)
  t.plan(0, missing)
  // The file's top-level set-up needs the tool; a plan of 0 has ended the test already.
  process.exit(0)
}
