import type { MeshNode } from '../node/index.js'

/** What an adapter's setup returns: an app serving Mesh on 127.0.0.1, on a port of its own. */
export interface AdapterUnderTest {
  /** HTTP base URL of the app, e.g. `http://127.0.0.1:41234` (no trailing slash, no base path). */
  url: string
  /** The node the app serves. */
  node: MeshNode
  /** Shuts the app down gracefully: the node leaves, sockets close, the port is freed. */
  teardown(): Promise<void>
}

/** Starts a fresh app (with a fresh node) on port 0. Called once or more per test. */
export type AdapterSetup = () => Promise<AdapterUnderTest>

/** Options of {@link runAdapterTests}. */
export interface AdapterTestOptions {
  /** Base path the setup mounts Mesh at. Default `/mesh`. */
  basePath?: string
  /** How long any single expected event may take. Default 5000 ms. */
  timeoutMs?: number
}

/** What a test holds while it runs: the app plus the URLs derived from it. */
export interface RunningApp extends AdapterUnderTest {
  api: string
  peerUrl: string
  lightBase: string
}
