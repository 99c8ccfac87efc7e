import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, type BuildOptions } from '../../src/app.js'
import type { Config } from '../../src/config.js'
import { testConfig } from './config.js'

/** Builds the app on embedded defaults (temp DATA_DIR) and closes it after the test. */
export async function buildTestApp (t: Test, env: Record<string, string> = {}, options: BuildOptions = {}): Promise<{ app: FastifyInstance, config: Config }> {
  const config = await testConfig(t, env)
  const app = await buildApp(config, { logger: false, ...options })
  t.teardown(() => app.close())
  return { app, config }
}
