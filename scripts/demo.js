// Starts three `mesh serve` processes chained a ← b ← c (b joins a, c joins b), prints their
// URLs, the inspector URL and a few curl commands to try, and stops them gracefully on Ctrl-C.
// Demo mode: the nodes share a random control token, so the inspector can cut and heal links.
// Run with `npm run demo` (it builds first).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../cli/dist/bin.js', import.meta.url))
const READY = /^mesh: (.+) listening on (http:\/\/\S+)$/
const tty = process.stdout.isTTY
const COLORS = { a: 36, b: 35, c: 33 }
const paint = (name, text) => (tty ? `\x1b[${COLORS[name] ?? 0}m${text}\x1b[0m` : text)
// A fresh token per run: the control API refuses every request without it.
const TOKEN = randomBytes(16).toString('hex')

/** @type {Map<string, import('node:child_process').ChildProcess>} */
const children = new Map()
let stopping = false

const start = (name, join) =>
  new Promise((resolve, reject) => {
    const args = [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--name', name, '--control-token', TOKEN]
    if (join) args.push('--join', join)
    // Own process group: Ctrl-C reaches only the demo, which then stops each node once.
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, PORT: '', MESH_NAME: '', MESH_JOIN: '', MESH_CONTROL_TOKEN: '' },
    })
    children.set(name, child)
    const prefix = paint(name, `${name} │`)
    createInterface({ input: child.stdout }).on('line', (line) => {
      console.log(`${prefix} ${line}`)
      const match = READY.exec(line)
      if (match) resolve(match[2])
    })
    createInterface({ input: child.stderr }).on('line', (line) => console.log(`${prefix} ${line}`))
    child.on('exit', (code, signal) => {
      children.delete(name)
      console.log(`${prefix} exited (${signal ?? `code ${code}`})`)
      reject(new Error(`${name} exited before it served`))
      if (!stopping) void stop(1)
    })
  })

const stop = async (exitCode) => {
  if (stopping) return
  stopping = true
  const exits = [...children.values()].map(
    (child) => new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve))),
  )
  for (const child of children.values()) child.kill('SIGTERM')
  await Promise.all(exits)
  process.exit(exitCode)
}

process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))
// Last resort if the demo dies another way: never leave nodes running behind it.
process.on('exit', () => {
  for (const child of children.values()) child.kill('SIGKILL')
})

if (!existsSync(CLI)) {
  console.error(`demo: ${CLI} is missing; run "npm run build" first (npm run demo does)`)
  process.exit(1)
}

try {
  const a = await start('a')
  const peer = (url) => `${url.replace(/^http/, 'ws')}/mesh`
  const b = await start('b', peer(a))
  const c = await start('c', peer(b))
  const json = `-H 'content-type: application/json'`
  const auth = `-H 'authorization: Bearer ${TOKEN}'`
  console.log(`
Mesh demo: three nodes, b joined a and c joined b (gossip links a and c too).

  a  ${a}
  b  ${b}
  c  ${c}

Inspector (with demo controls: cut/heal links, write on any node):

  ${a}/mesh/inspector#token=${TOKEN}

Try:
  curl -X PUT ${json} -d '"blue"' ${a}/mesh/api/kv/color
  curl ${c}/mesh/api/kv/color
  curl -X PUT ${json} -d '{"dark": true}' ${c}/mesh/api/kv/theme
  curl ${a}/mesh/api/kv
  curl -X DELETE ${b}/mesh/api/kv/color
  curl ${a}/mesh/api/members
  curl ${b}/mesh/api/status
  curl -X POST ${json} ${auth} -d '{"peer": "<node id>"}' ${a}/mesh/api/control/cut

Press Ctrl-C to stop the nodes.
`)
} catch (error) {
  console.error(`demo: ${error.message}`)
  await stop(1)
}
