import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { EngineModule } from '../engine/engine.module';
import { ModelsModule } from '../models/models.module';
import { EngineHealthIndicator } from './engine.health';
import { HealthController } from './health.controller';
import { HealthDetailsService } from './health-details.service';
import { InfoController } from './info.controller';
import { ShutdownState } from './shutdown-state';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), EngineModule, ModelsModule],
  controllers: [HealthController, InfoController],
  providers: [EngineHealthIndicator, ShutdownState, HealthDetailsService],
})
export class HealthModule {}
