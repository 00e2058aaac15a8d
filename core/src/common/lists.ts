/**
 * Copy-on-write lists sized exactly: a spread or `push` leaves room for 16 more entries (about
 * 130 bytes), which per room and link adds up for rooms that anyone may open.
 */

/** `list` with `item` added at the end, in an array of exactly that length. */
export const appended = <T>(list: readonly T[], item: T): T[] => {
  const out = new Array<T>(list.length + 1)
  for (let i = 0; i < list.length; i++) out[i] = list[i] as T
  out[list.length] = item
  return out
}

/** `list` without `item`, in an array of exactly that length (`list` itself when it lacks `item`). */
export const without = <T>(list: readonly T[], item: T): readonly T[] => {
  const at = list.indexOf(item)
  if (at < 0) return list
  const out = new Array<T>(list.length - 1)
  for (let i = 0, j = 0; i < list.length; i++) if (i !== at) out[j++] = list[i] as T
  return out
}
