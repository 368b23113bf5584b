import { Module } from '@nestjs/common';
import { PiperEngine } from './piper-engine';
import { PoolPiperEngine } from './pool-piper-engine';

/**
 * The synthesis engine. `PiperEngine` (what features depend on) is an alias of the one
 * PoolPiperEngine, which boot code uses to start the workers: `useExisting`, because
 * `useClass` would build a second pool with its own workers.
 */
@Module({
  providers: [PoolPiperEngine, { provide: PiperEngine, useExisting: PoolPiperEngine }],
  exports: [PiperEngine, PoolPiperEngine],
})
export class EngineModule {}
