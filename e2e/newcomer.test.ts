import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

describe('the newcomer path of the README', () => {
  it('`npx --no-install mesh --help` runs the local CLI in the checkout', async () => {
    // --no-install: never fetch the unrelated registry package that is also named "mesh".
    const { stdout, stderr } = await promisify(execFile)('npx', ['--no-install', 'mesh', '--help'], {
      cwd: root,
      env: { ...process.env, npm_config_yes: 'false' },
    })
    expect(stderr).toBe('')
    expect(stdout).toContain('mesh serve')
    // The serve options, which every usage error points to, are on the main help (issue 13).
    expect(stdout).toContain('--join URL')
  })
})
