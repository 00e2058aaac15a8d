/**
 * Summarises `.cpuprofile` files (from `MESH_BENCH_CPU_PROF=DIR npm run bench ...`): self
 * time per function and per package, and inclusive time of the named core functions.
 *
 * Usage: node bench/dist/profile-summary.js [--top N] [--focus REGEXP] [--within REGEXP] FILE.cpuprofile...
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** Which package a script URL belongs to, for the per-package totals. */
const packageOf = (url: string): string => {
  if (url === '') return '(native / gc / idle)'
  if (url.startsWith('node:')) return 'node internals'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm?.[1]) return nm[1]
  const ws = /\/(core|bench|cli|adapters\/[^/]+)\/dist\//.exec(url)
  if (ws?.[1]) return `@mesh/${ws[1]}`
  return url
}

const label = (node: ProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame
  const file = url ? basename(url) : ''
  return `${functionName || '(anonymous)'}${file ? ` ${file}:${lineNumber + 1}` : ''}`
}

const percent = (part: number, total: number): string => `${((100 * part) / total).toFixed(1).padStart(5)}%`

/** Prints the summary of one profile; `focus` lists the inclusive time of matching functions too. */
export const summarize = (file: string, top: number, focus?: RegExp, within?: RegExp): string => {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  let total = 0
  let idle = 0
  const bySelf = new Map<string, number>()
  const byPackage = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const inside = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)
      if (frame && within?.test(label(frame))) return true
    }
    return false
  }
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (!node) continue
    if (within && !inside(id)) continue
    total += us
    const name = node.callFrame.functionName
    if (name === '(idle)' || name === '(program)') {
      idle += name === '(idle)' ? us : 0
    }
    bySelf.set(label(node), (bySelf.get(label(node)) ?? 0) + us)
    const pkg = name === '(idle)' ? '(idle)' : name === '(garbage collector)' ? '(gc)' : packageOf(node.callFrame.url)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us)
    // Inclusive time: charge every distinct frame on the stack once.
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)
      if (!frame) break
      const key = label(frame)
      if (seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + us)
    }
  }
  const busy = total - idle
  const lines = [
    `== ${basename(file)}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (not idle)${
      within ? `, only stacks within ${String(within)}` : ''
    }`,
    '-- self time by package (% of busy)',
  ]
  for (const [pkg, us] of [...byPackage]
    .filter(([p]) => p !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)) {
    lines.push(`${percent(us, busy)}  ${pkg}`)
  }
  lines.push(`-- top ${top} functions by self time (% of busy)`)
  for (const [name, us] of [...bySelf]
    .filter(([n]) => !n.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    lines.push(`${percent(us, busy)}  ${name}`)
  }
  lines.push(`-- top ${top} functions by inclusive time (% of busy)`)
  const skip = /^\((root|program|idle)\)|^processTicksAndRejections|^listOnTimeout|^processImmediate|^\(anonymous\) $/
  for (const [name, us] of [...inclusive]
    .filter(([n]) => !skip.test(n))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    lines.push(`${percent(us, busy)}  ${name}`)
  }
  if (focus) {
    lines.push(`-- inclusive time of functions matching ${String(focus)} (% of busy)`)
    for (const [name, us] of [...inclusive].filter(([n]) => focus.test(n)).sort((a, b) => b[1] - a[1])) {
      lines.push(`${percent(us, busy)}  ${name}`)
    }
  }
  return lines.join('\n')
}

const main = (): void => {
  const args = process.argv.slice(2)
  let top = 25
  let focus: RegExp | undefined
  let within: RegExp | undefined
  const files: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i])
    else if (args[i] === '--focus') focus = new RegExp(args[++i] ?? '')
    else if (args[i] === '--within') within = new RegExp(args[++i] ?? '')
    else files.push(args[i] as string)
  }
  if (files.length === 0) {
    process.stderr.write(
      'usage: node bench/dist/profile-summary.js [--top N] [--focus REGEXP] [--within REGEXP] FILE.cpuprofile...\n',
    )
    process.exit(2)
  }
  for (const f of files) process.stdout.write(`${summarize(f, top, focus, within)}\n\n`)
}

main()
