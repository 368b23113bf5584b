import { Module } from '@nestjs/common';
import { EngineModule } from '../engine/engine.module';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';
import { VoiceRegistry } from './voice-registry.service';

/**
 * The installed voices: VoiceRegistry (scanned at module init) for every feature that
 * names a voice, and the /voices, /model_card and /demo endpoints. Settings comes from
 * the global SettingsModule; the engine (for synthesized demos) from EngineModule.
 */
@Module({
  imports: [EngineModule],
  controllers: [ModelsController],
  providers: [VoiceRegistry, ModelsService],
  exports: [VoiceRegistry, ModelsService],
})
export class ModelsModule {}
