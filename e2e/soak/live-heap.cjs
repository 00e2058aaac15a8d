// Preloaded into the soak's mesh serve processes (NODE_OPTIONS=--require): every few seconds
// it runs a full garbage collection and prints the heap that survived, the live heap, which is
// what a leak makes grow, and how much of it is compiled code (V8's code spaces: it grows and
// shrinks as functions are optimized, deoptimized and flushed, whatever the node keeps). Test-only;
// nothing in core depends on it.
const v8 = require('node:v8')
const vm = require('node:vm')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
const everyMs = Number(process.env.MESH_SOAK_GC_MS || 5000)
setInterval(() => {
  gc()
  let code = 0
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name.startsWith('code_')) code += space.space_used_size
  }
  process.stdout.write(`mesh-soak: live ${process.memoryUsage().heapUsed} at ${Date.now()} code ${code}\n`)
}, everyMs).unref()
