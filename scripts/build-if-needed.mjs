// `npm start` builds only when a source file is newer than the last build, so a fresh clone
// works with `npm ci && npm start` and a second start costs nothing.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'

const root = new URL('..', import.meta.url).pathname
const stamp = join(root, 'dist', '.built')

function newest (dir) {
  let t = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) t = Math.max(t, newest(p))
    else if (entry.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs)
  }
  return t
}

const sources = ['src', 'plugins', 'transcoder'].map((d) => join(root, d)).filter(existsSync)
const newestSource = Math.max(...sources.map(newest), statSync(join(root, 'tsconfig.json')).mtimeMs)
if (!existsSync(stamp) || statSync(stamp).mtimeMs < newestSource) {
  process.stderr.write('lectern: building (tsc)...\n')
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
  execFileSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(stamp)}, String(Date.now()))`])
}
