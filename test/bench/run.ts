import { readdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { formatBenchResult, type BenchResult } from './bench-result.js'

// Runs every test/bench/*.bench.ts in turn (one at a time: they measure against a reference run
// on the same cores) and prints each result. An optional argument filters by file name.
const dir = dirname(fileURLToPath(import.meta.url))
const filter = process.argv[2]
const files = (await readdir(dir)).filter((f) => f.endsWith('.bench.ts') && (filter === undefined || f.includes(filter))).sort()
let failed = 0
for (const file of files) {
  process.stdout.write(`\n-- ${file}\n`)
  try {
    const mod = await import(pathToFileURL(`${dir}/${file}`).href) as { run?: () => Promise<BenchResult> }
    if (typeof mod.run !== 'function') throw new Error(`${file} does not export run()`)
    const result = await mod.run()
    process.stdout.write(formatBenchResult(result) + '\n')
  } catch (err) {
    failed++
    process.stdout.write(`${file} failed: ${(err as Error).stack ?? String(err)}\n`)
  }
}
process.stdout.write(`\n${files.length - failed} of ${files.length} benchmarks ran\n`)
process.exitCode = failed > 0 ? 1 : 0
