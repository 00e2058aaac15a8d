import { ConfigurableModuleBuilder } from '@nestjs/common'
import type { MeshNode, MeshNodeOptions, ServeNodeOptions } from '@mesh/core'

/**
 * Options of `MeshModule.forRoot` / `forRootAsync`: those of `MeshNode`, plus where and how the
 * endpoints are served and which peers to join (core's `ServeNodeOptions`: `basePath`, `rest`,
 * `readOnly`, `inspector`, `join`, `joinTimeoutMs`).
 * @example MeshModule.forRoot({ name: 'api-1', join: ['ws://10.0.0.2:3000/mesh'], inspector: true })
 */
export interface MeshModuleOptions extends MeshNodeOptions, ServeNodeOptions {
  /** Use this node instead of creating one (its own options then apply). */
  node?: MeshNode
  /** Serve the endpoints on the Nest HTTP server. Default true; false for a node that only dials out. */
  serve?: boolean
}

const definition = new ConfigurableModuleBuilder<MeshModuleOptions>({ moduleName: 'Mesh' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (module, extras) => ({ ...module, global: extras.isGlobal }))
  .build()

/** The base class `MeshModule` extends: it provides `forRoot` and `forRootAsync`. */
export const ConfigurableMeshModule = definition.ConfigurableModuleClass

/** Injection token of the resolved {@link MeshModuleOptions}. */
export const MESH_MODULE_OPTIONS = definition.MODULE_OPTIONS_TOKEN
