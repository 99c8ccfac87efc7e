import t from 'tap'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'

// semver comes with npm's and tap's own dependencies (no types of its own here).
const semver = createRequire(import.meta.url)('semver') as {
  satisfies: (version: string, range: string) => boolean
  minVersion: (range: string) => { version: string } | null
}

// The README names the Node.js it needs (package.json engines, 20.19+). Every package the lock file
// installs must accept that Node, or `npm ci` warns EBADENGINE and the package may rely on what
// Node 20 lacks (content-disposition@3 and cookie@2 want Node 22: overridden to 2.0.1 and 1.1.1).

const root = new URL('../../', import.meta.url)
const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(await readFile(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, { version?: string, engines?: unknown, optional?: boolean }> }

t.test('every locked package accepts the oldest Node the README names', async (t) => {
  const oldest = semver.minVersion(pkg.engines.node)!.version
  t.equal(oldest, '20.19.0')
  const refusing: string[] = []
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.optional === true) continue
    const node = (entry.engines as { node?: string } | undefined)?.node
    if (typeof node !== 'string') continue
    if (!semver.satisfies(oldest, node)) refusing.push(`${path}@${entry.version ?? '?'} wants node ${node}`)
  }
  t.same(refusing, [], 'no package would make npm ci warn EBADENGINE on Node ' + oldest)
})
