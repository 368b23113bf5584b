import { Module } from '@nestjs/common';
import { EngineModule } from '../engine/engine.module';
import { ModelsController } from './models.controller';
import { DefaultVoiceInstaller } from './default-voice-installer.service';
import { ModelsService } from './models.service';
import { voiceCatalogueProvider } from './voice-catalogue.provider';
import { VoiceRegistry } from './voice-registry.service';
import { VoiceReloader } from './voice-reloader.service';

/**
 * The installed voices: VoiceRegistry (scanned at module init, rescanned by
 * VoiceReloader while the server runs) for every feature that names a voice, the
 * catalogue and DEFAULT_MODEL's installer, and the /voices, /model_card and /demo
 * endpoints. Settings comes from the global SettingsModule; the engine (for synthesized
 * demos and for loading and unloading voices as MODEL_DIR changes) from EngineModule.
 */
@Module({
  imports: [EngineModule],
  controllers: [ModelsController],
  providers: [
    VoiceRegistry,
    ModelsService,
    voiceCatalogueProvider,
    DefaultVoiceInstaller,
    VoiceReloader,
  ],
  exports: [VoiceRegistry, ModelsService, voiceCatalogueProvider, DefaultVoiceInstaller],
})
export class ModelsModule {}
