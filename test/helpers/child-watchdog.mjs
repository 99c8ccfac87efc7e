// Runs one command and ties its life to this process's stdin, which the spawning test holds:
// when the test process goes away, even by SIGKILL (tap's timeout), stdin closes and the command
// is killed, so no server outlives its test. Lines on stdin name a signal to send to the command
// ("SIGTERM", "SIGKILL"). Plain JavaScript so it starts without a TypeScript loader.
import { spawn } from 'node:child_process'
import { constants } from 'node:os'

const [command, ...args] = process.argv.slice(2)
if (command === undefined) {
  process.stderr.write('usage: child-watchdog.mjs <command> [args...]\n')
  process.exit(2)
}

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] })
child.on('error', (err) => {
  process.stderr.write(`${command}: ${err.message}\n`)
  process.exit(127)
})
child.on('exit', (code, signal) => {
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0))
})

const killChild = () => {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

let pending = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (data) => {
  pending += data
  let nl
  while ((nl = pending.indexOf('\n')) !== -1) {
    const signal = pending.slice(0, nl).trim()
    pending = pending.slice(nl + 1)
    if (signal in constants.signals && child.exitCode === null && child.signalCode === null) child.kill(signal)
  }
})
process.stdin.on('end', killChild)
process.stdin.on('error', killChild)
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {
    killChild()
    process.exit(128 + constants.signals[signal])
  })
}
