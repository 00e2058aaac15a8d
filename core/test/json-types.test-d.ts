// Type-level checks, compiled by `tsc -p tsconfig.test.json` (part of `npm test`), never run:
// a value that is not JSON must not compile as a put value. Each `@ts-expect-error` fails the
// build if the line below it compiles.
import type { ConflictingKey, JsonValue, MeshNode } from '@mesh/core'

declare const node: MeshNode

export async function plainJsonCompiles(): Promise<unknown[]> {
  await node.put('flag', { enabled: true, by: 'ada', tags: ['a'], limit: 3, note: null })
  await node.put({ a: 1, b: 'two', c: [true, null] }, { ttl: 1000 })
  node.data.set('k', [1, 2, 3])
  node.setMeta({ zone: 'eu-1', weight: 2 })
  const limit: number | undefined = node.get<number>('limit')
  const key: ConflictingKey = { key: 'k', local: { a: 1 }, remote: undefined }
  return [limit, key]
}

export async function notJsonIsRefused(): Promise<unknown> {
  // @ts-expect-error a Date is not JSON (it would arrive as a string, or be refused at run time)
  await node.put('when', new Date())
  // @ts-expect-error a function is not JSON
  await node.put('fn', () => 1)
  // @ts-expect-error a Map is not JSON (JSON.stringify turns it into {})
  await node.put('map', new Map([['a', 1]]))
  // @ts-expect-error not in an object of entries either
  await node.put({ ok: 1, when: new Date() })
  // @ts-expect-error nor through the room's store
  node.data.set('map', new Map())
  // @ts-expect-error nor as member metadata
  node.setMeta({ since: new Date() })
  // @ts-expect-error `get` only narrows to JSON types
  node.get<Date>('when')
  const stored: JsonValue | undefined = node.get('k')
  return stored
}
