import { Module } from '@nestjs/common'
import { MeshService } from './mesh-service.js'
import { ConfigurableMeshModule } from './options.js'

/**
 * Mesh for a NestJS app: `MeshModule.forRoot(options)` or
 * `MeshModule.forRootAsync({ imports, inject, useFactory })`, with `isGlobal: true` to make
 * {@link MeshService} injectable everywhere without importing the module again.
 * @example
 * @Module({ imports: [MeshModule.forRoot({ name: 'api-1', join: ['ws://10.0.0.2:3000/mesh'] })] })
 * export class AppModule {}
 */
@Module({ providers: [MeshService], exports: [MeshService] })
export class MeshModule extends ConfigurableMeshModule {}
