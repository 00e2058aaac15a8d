import { ConfigurableModuleBuilder } from '@nestjs/common'
import type { MeshModuleOptions } from './options.js'

const definition = new ConfigurableModuleBuilder<MeshModuleOptions>({ moduleName: 'Mesh' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (module, extras) => ({ ...module, global: extras.isGlobal }))
  .build()

/** The base class `MeshModule` extends: it provides `forRoot` and `forRootAsync`. */
export const ConfigurableMeshModule = definition.ConfigurableModuleClass

/** Injection token of the resolved {@link MeshModuleOptions}. */
export const MESH_MODULE_OPTIONS = definition.MODULE_OPTIONS_TOKEN
