/**
 * Import rules of the repository, checked by `npm run check:deps` (part of `npm test`).
 * See docs/architecture.md for the layers of core/src.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle anywhere in the repository.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'folder-door',
      severity: 'error',
      comment:
        'A folder of core/src is entered through its index.ts only: files in other folders import ../store/index.js, never ../store/kv-index.js.',
      from: { path: '^core/src/([^/]+)/' },
      to: { path: '^core/src/[^/]+/', pathNot: ['^core/src/$1/', '^core/src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'nothing-into-node',
      severity: 'error',
      comment:
        'node/ is the composition root: only the public entry (src/index.ts) and the shells that serve a node (http/, testing/) import it.',
      from: {
        path: '^core/src/',
        pathNot: ['^core/src/node/', '^core/src/http/', '^core/src/testing/', '^core/src/index\\.ts$'],
      },
      to: { path: '^core/src/node/' },
    },
    {
      name: 'replication-below-light-peers-and-membership',
      severity: 'error',
      comment: 'replication knows nothing of light peers, membership, observability, http or node.',
      from: { path: '^core/src/replication/' },
      to: { path: '^core/src/(light-peers|membership|observability|http|node|testing)/' },
    },
    {
      name: 'routing-below-node',
      severity: 'error',
      comment:
        'routing/ (placement, actors, calls) rides on replication (peer links, protocol) and knows nothing of light peers, membership, observability, http or node: the node hands it what it needs.',
      from: { path: '^core/src/routing/' },
      to: { path: '^core/src/(light-peers|membership|observability|http|node|testing)/' },
    },
    {
      name: 'store-is-low',
      severity: 'error',
      comment: 'store/ builds on common/ only.',
      from: { path: '^core/src/store/' },
      to: { path: '^core/src/', pathNot: ['^core/src/store/', '^core/src/common/'] },
    },
    {
      name: 'common-is-the-bottom',
      severity: 'error',
      comment: 'common/ is shared vocabulary and imports no other folder.',
      from: { path: '^core/src/common/' },
      to: { path: '^core/src/', pathNot: '^core/src/common/' },
    },
    {
      name: 'security-is-low',
      severity: 'error',
      comment: 'security/ (auth, peer HMAC, frame guard, admission) builds on common/ only.',
      from: { path: '^core/src/security/' },
      to: { path: '^core/src/', pathNot: ['^core/src/security/', '^core/src/common/'] },
    },
    {
      name: 'backbone-on-public-core',
      severity: 'error',
      comment:
        'A backbone (backbone/*) uses @mesh/core through its package entries, never the files of another package.',
      from: { path: '^backbone/' },
      to: { path: '^(core|cli|client|adapters|web-inspector|bench|e2e|examples)/' },
    },
    {
      name: 'recipes-on-public-core',
      severity: 'error',
      comment:
        'recipes/ builds on the public entries of @mesh/core only (DESIGN §11): no relative import into another package.',
      from: { path: '^recipes/' },
      to: { path: '^(?!recipes/)', dependencyTypesNot: ['npm', 'npm-dev', 'npm-peer', 'unknown', 'core'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
  },
}
