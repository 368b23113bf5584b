import { Module } from '@nestjs/common';
import { EngineModule } from '../engine/engine.module';
import { ModelsModule } from '../models/models.module';
import { TtsModule } from '../tts/tts.module';
import { WyomingServerService } from './wyoming-server.service';
import { WyomingSpeechService } from './wyoming-speech.service';
import { WyomingZeroconf } from './wyoming-zeroconf';

/**
 * Home Assistant's Wyoming protocol on its own TCP port (WYOMING_PORT), speaking through
 * TtsService: the voices, cache, worker pool and metrics HTTP uses.
 */
@Module({
  imports: [EngineModule, ModelsModule, TtsModule],
  providers: [WyomingSpeechService, WyomingZeroconf, WyomingServerService],
  exports: [WyomingServerService],
})
export class WyomingModule {}
