#!/usr/bin/env node
// The `mesh` command. This file is committed so that `npm ci` links `node_modules/.bin/mesh`
// on a fresh clone (npm links a workspace bin only when its target exists at install time);
// the command itself is built from cli/src into cli/dist.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const built = fileURLToPath(new URL('../dist/bin.js', import.meta.url))
if (!existsSync(built)) {
  process.stderr.write('mesh: the CLI is not built yet; run `npm run build` (or `npm run demo`) first\n')
  process.exit(2)
}
await import(built)
