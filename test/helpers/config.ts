import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { loadConfig, type Config } from '../../src/config.js'

/** A fresh temp directory removed after the test. */
export async function tempDir (t: Test, prefix = 'lectern-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A Config on embedded defaults with its own DATA_DIR; env entries override. Sign-up is immediate
 * (SIGNUP_CONFIRMATION=off) so that tests register several accounts in one call each; the tests
 * of the confirmation mail (test/auth/signup-*.test.ts) set it to email.
 */
export async function testConfig (t: Test, env: Record<string, string> = {}): Promise<Config> {
  const dataDir = await tempDir(t)
  return loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', WORKER: 'off', SIGNUP_CONFIRMATION: 'off', ...env })
}
