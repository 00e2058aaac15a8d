const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

/**
 * A placeholder for the web inspector: names the node and links the REST API, and shows the
 * live status by polling it, until `@mesh/inspector` ships its static assets.
 */
export const inspectorPage = (options: { name: string; base: string }): string => {
  const api = escapeHtml(`${options.base}/api`)
  // Inside <script> entities are not decoded, so the script gets a JSON string instead.
  const apiLiteral = JSON.stringify(`${options.base}/api`).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Mesh inspector: ${escapeHtml(options.name)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:60rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style>
<h1>Mesh node ${escapeHtml(options.name)}</h1>
<p>The full inspector is not bundled yet. REST API:
<a href="${api}/members">members</a>, <a href="${api}/status">status</a>, <a href="${api}/kv">kv</a>,
<a href="${api}/history">history</a>, <a href="${api}/health">health</a>.</p>
<h2>Members</h2><pre id="members">loading…</pre>
<h2>Data</h2><pre id="kv">loading…</pre>
<script type="module">
const show = async (id, path) => {
  try { document.getElementById(id).textContent = JSON.stringify(await (await fetch(${apiLiteral} + path)).json(), null, 2) }
  catch (error) { document.getElementById(id).textContent = String(error) }
}
const refresh = () => Promise.all([show('members', '/members'), show('kv', '/kv')])
refresh()
setInterval(refresh, 2000)
</script>
</html>
`
}
