/**
 * The environment for a test's child process: what any program needs to run (PATH, HOME, TMPDIR,
 * locale), plus what the test names. Never the developer's whole environment: a MONGODB_URL,
 * S3_BUCKET, REDIS_URL or NODE_OPTIONS of theirs would point the child at another store or loader.
 */
export function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string> = {}
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ']) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return { ...env, ...extra }
}
