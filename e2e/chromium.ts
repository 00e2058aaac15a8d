import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Debian's chromium: the only browser this network can install (no downloaded builds). */
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Launches headless Debian chromium for the browser tests, or fails with how to install it.
 * The networking flags keep it from reaching out to the internet at start-up.
 */
export const launchChromium = (): Promise<Browser> => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: the browser tests drive Debian's chromium. Install it as root with ` +
        '"apt-get update && apt-get install -y chromium" (.ci/run does this).',
    )
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}
