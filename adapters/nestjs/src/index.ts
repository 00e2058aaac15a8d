import 'reflect-metadata'

export { MeshModule } from './mesh-module.js'
export { MeshService } from './mesh-service.js'
export { MESH_MODULE_OPTIONS, type MeshModuleOptions } from './options.js'
