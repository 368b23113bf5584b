import { Module } from '@nestjs/common';
import { EngineModule } from '../engine/engine.module';
import { ModelsController } from './models.controller';
import { DefaultVoiceInstallerService } from './default-voice-installer.service';
import { ModelsService } from './models.service';
import { voiceCatalogueProvider } from './voice-catalogue.provider';
import { VoiceRegistryService } from './voice-registry.service';
import { VoiceReloaderService } from './voice-reloader.service';

/**
 * The installed voices: VoiceRegistryService (scanned at module init, rescanned by
 * VoiceReloaderService while the server runs) for every feature that names a voice, the
 * catalogue and DEFAULT_MODEL's installer, and the /voices, /model_card and /demo
 * endpoints. Settings comes from the global SettingsModule; the engine (for synthesized
 * demos and for loading and unloading voices as MODEL_DIR changes) from EngineModule.
 */
@Module({
  imports: [EngineModule],
  controllers: [ModelsController],
  providers: [
    VoiceRegistryService,
    ModelsService,
    voiceCatalogueProvider,
    DefaultVoiceInstallerService,
    VoiceReloaderService,
  ],
  exports: [
    VoiceRegistryService,
    ModelsService,
    voiceCatalogueProvider,
    DefaultVoiceInstallerService,
  ],
})
export class ModelsModule {}
