import { Module } from '@nestjs/common';
import { SynthesisBudget } from '../common/guards/rate-limit';
import { AudioCacheModule } from '../cache/audio-cache.module';
import { EngineModule } from '../engine/engine.module';
import { ModelsModule } from '../models/models.module';
import { TtsController } from './tts.controller';
import { TtsService } from './tts.service';

@Module({
  imports: [ModelsModule, EngineModule, AudioCacheModule],
  controllers: [TtsController],
  providers: [TtsService, SynthesisBudget],
  exports: [TtsService],
})
export class TtsModule {}
