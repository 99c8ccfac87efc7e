import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { tempDir } from '../helpers/config.js'
import { fakeVideo } from '../plugins/multipart-body.js'
import { registerAccount } from '../plugins/accounts.js'
import { listeningApp, until } from './tus-client.js'

// The README's way to resume from a script: docs/examples/resumable-upload.mjs (tus-js-client in
// Node) killed mid-upload, then run again, goes on from the server's offset.

const SCRIPT = fileURLToPath(new URL('../../docs/examples/resumable-upload.mjs', import.meta.url))

t.test('the example script resumes after it is killed', async (t) => {
  const { app, config, origin } = await listeningApp(t)
  const account = await registerAccount(app)
  const dir = await tempDir(t, 'lectern-script-')
  const file = join(dir, 'lecture.mp4')
  const bytes = fakeVideo(40 * 1024 * 1024 + 999)
  await writeFile(file, bytes)
  const env = { PATH: process.env.PATH ?? '', LECTERN: origin, TOKEN: account.token, TUS_STATE: join(dir, 'state.json') }
  const run = () => {
    // Run from the repository, where tus-js-client is installed.
    const child = spawn(process.execPath, [SCRIPT, file, 'Scripted lecture'], { env, cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    t.teardown(() => { child.kill('SIGKILL') })
    return { child, exited, output: () => out }
  }

  // Killed while its PATCH is under way (40 MB in one 64 MiB chunk).
  const first = run()
  const tusDir = join(config.dataDir, 'uploads')
  const received = async () => {
    const record = (await app.db.collection('uploads').find({}))[0]
    return record === undefined ? 0 : await readFile(join(tusDir, String(record._id))).then((b) => b.length, () => 0)
  }
  t.ok(await until(async () => await received() > 4 * 1024 * 1024, 20_000), 'the first run was sending')
  first.child.kill('SIGKILL')
  await first.exited
  const kept = await received()
  t.ok(kept > 0 && kept < bytes.length, `killed with ${kept} bytes on the server`)

  const second = run()
  t.equal(await second.exited, 0, second.output())
  t.match(second.output(), /resuming http:\/\/127\.0\.0\.1:\d+\/api\/uploads\/[0-9a-f]{20}/, 'the second run found the first run\'s upload')
  const firstSent = Number(/sent (\d+) of/.exec(second.output())?.[1])
  t.ok(firstSent > kept - 1, `and went on from the server's offset (its first progress: ${firstSent})`)
  const id = /video ([0-9a-f]{20})/.exec(second.output())?.[1]
  t.ok(id, 'it printed the video id')
  const chunks: Buffer[] = []
  for await (const chunk of await app.storage.get(`originals/${id}`)) chunks.push(chunk as Buffer)
  t.ok(Buffer.concat(chunks).equals(bytes), 'the original is byte-identical')
  t.equal(await app.db.collection('uploads').countDocuments({}), 1, 'one upload, not two')
  t.same(JSON.parse(await readFile(env.TUS_STATE, 'utf8').catch(() => '{}')), {}, 'the script forgot the finished upload')
})
