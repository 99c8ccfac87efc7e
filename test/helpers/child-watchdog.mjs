// Runs one command and ties its life to this process's stdin, which the spawning test holds:
// when the test process goes away, even by SIGKILL (tap's timeout), stdin closes and the command
// is killed, so no server outlives its test. Lines on stdin name a signal to send to the command
// ("SIGTERM", "SIGKILL"). Plain JavaScript so it starts without a TypeScript loader.
//
// With --group the command runs in a process group of its own and everything ends with the group:
// a line "group SIGKILL" signals the whole group (the command and, say, its ffmpeg: a machine
// dying), and so does the end of stdin; plain signal lines still go to the command alone.
import { spawn } from 'node:child_process'
import { constants } from 'node:os'

const group = process.argv[2] === '--group'
const [command, ...args] = process.argv.slice(group ? 3 : 2)
if (command === undefined) {
  process.stderr.write('usage: child-watchdog.mjs [--group] <command> [args...]\n')
  process.exit(2)
}

const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'], detached: group })
child.on('error', (err) => {
  process.stderr.write(`${command}: ${err.message}\n`)
  process.exit(127)
})
const signalGroup = (signal) => {
  try {
    process.kill(-child.pid, signal)
  } catch {}
}
child.on('exit', (code, signal) => {
  const status = code ?? 128 + (constants.signals[signal] ?? 0)
  if (!group) process.exit(status)
  // The rest of the group (the process npm ran, a worker's ffmpeg) gets a few seconds to finish
  // what it was told; whatever is still running then goes with the command.
  const deadline = Date.now() + 10_000
  const wait = () => {
    let running = true
    try {
      process.kill(-child.pid, 0)
    } catch {
      running = false
    }
    if (running && Date.now() < deadline) return setTimeout(wait, 50)
    if (running) signalGroup('SIGKILL')
    process.exit(status)
  }
  wait()
})
const killChild = () => {
  if (group) signalGroup('SIGKILL')
  else if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}

let pending = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (data) => {
  pending += data
  let nl
  while ((nl = pending.indexOf('\n')) !== -1) {
    const line = pending.slice(0, nl).trim()
    pending = pending.slice(nl + 1)
    const toGroup = group && line.startsWith('group ')
    const signal = toGroup ? line.slice('group '.length) : line
    if (!(signal in constants.signals)) continue
    if (toGroup) signalGroup(signal)
    else if (child.exitCode === null && child.signalCode === null) child.kill(signal)
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
