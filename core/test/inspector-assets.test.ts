import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createInspectorHandler } from '@mesh/core'

const dir = mkdtempSync(join(tmpdir(), 'mesh-inspector-'))
mkdirSync(join(dir, 'assets'))
writeFileSync(join(dir, 'index.html'), '<title>Mesh inspector</title>')
writeFileSync(join(dir, 'assets', 'index-abc.js'), 'export {}')
// A file next to the build, which no request path may reach.
writeFileSync(`${dir}-secret.txt`, 'top secret content')
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  rmSync(`${dir}-secret.txt`, { force: true })
})

const text = (body: Uint8Array | undefined) => new TextDecoder().decode(body)

describe('createInspectorHandler', () => {
  const handle = createInspectorHandler({ base: '/cluster/', dir })

  it('serves the page and hashed assets from memory, with types and cache headers', () => {
    const page = handle('GET', '/cluster/inspector/?ignored=1')
    expect(page?.status).toBe(200)
    expect(page?.headers).toMatchObject({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' })
    expect(text(page?.body)).toBe('<title>Mesh inspector</title>')
    const js = handle('HEAD', '/cluster/inspector/assets/index-abc.js')
    expect(js?.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'content-length': '9',
      'cache-control': 'public, max-age=31536000, immutable',
    })
  })

  it('redirects the bare path to the directory, and leaves other paths and methods alone', () => {
    const bare = handle('GET', '/cluster/inspector')
    expect(bare?.status).toBe(302)
    expect(new URL(bare?.headers.location ?? '', 'http://h/cluster/inspector').pathname).toBe('/cluster/inspector/')
    expect(handle('POST', '/cluster/inspector/')).toBeUndefined()
    expect(handle('GET', '/cluster/inspectors')).toBeUndefined()
    expect(handle('GET', '/cluster/api/health')).toBeUndefined()
  })

  it('answers 404 for anything not in the build, traversal included', () => {
    for (const path of ['/cluster/inspector/nope.js', `/cluster/inspector/../${basename(dir)}-secret.txt`]) {
      const reply = handle('GET', path)
      expect(reply?.status).toBe(404)
      expect(text(reply?.body)).not.toContain('top secret content')
    }
  })

  it('answers the "not built" page while there is no build', () => {
    const reply = createInspectorHandler({ dir: join(dir, 'missing') })('GET', '/mesh/inspector/')
    expect(reply?.status).toBe(503)
    expect(reply?.headers['cache-control']).toBe('no-store')
    expect(text(reply?.body)).toContain('<title>Mesh inspector</title>')
  })
})
