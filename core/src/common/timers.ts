/**
 * Lets the process exit while `timer` is pending. Node's timers have `unref`; the runtimes
 * Mesh also serves through the Fetch API (Deno, browsers) return a number from `setTimeout`,
 * so the call is optional there even though Node's types say it always exists.
 */
export const unrefTimer = (timer: ReturnType<typeof setTimeout>): void => {
  ;(timer as { unref?: () => void }).unref?.()
}
