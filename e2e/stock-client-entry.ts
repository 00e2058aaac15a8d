/**
 * What the browser tests load as the stock y-websocket client: bundled by e2e/stock-client.ts
 * into one script exposed as `window.StockYjs`, so a page runs the very client apps ship.
 */
export { WebsocketProvider } from 'y-websocket'
export * as Y from 'yjs'
