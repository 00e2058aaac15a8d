// Preloaded into a node under test (NODE_OPTIONS=--require, see e2e/live-memory.ts): on SIGUSR2
// it runs a full garbage collection and prints what survived, so a test can tell memory the
// node keeps from garbage it has not collected yet. Test-only; nothing in core depends on it.
const v8 = require('node:v8')
const vm = require('node:vm')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
process.on('SIGUSR2', () => {
  // Twice: what the first collection finds dead is not all swept yet when it returns.
  gc()
  gc()
  const { heapUsed, external, rss } = process.memoryUsage()
  process.stdout.write(`mesh-test: live ${JSON.stringify({ heapUsed, external, rss })}\n`)
})
