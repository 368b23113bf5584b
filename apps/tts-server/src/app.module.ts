import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { ApiKeysService } from './common/api-keys.service';
import { ApiKeyGuard } from './common/guards/api-key.guard';
import { RateLimitGuard } from './common/guards/rate-limit.guard';
import { RequestValidationPipe } from './common/pipes/request-validation.pipe';
import { JsonBodyModule } from './common/json-body';
import { DomainExceptionFilter } from './common/filters/domain-exception.filter';
import { rateLimitOptions } from './common/guards/rate-limit';
import { Settings } from './config/settings';
import { SettingsModule } from './config/settings.module';
import { EngineModule } from './engine/engine.module';
import { EngineWarmupService } from './engine-warmup.service';
import { AdminModule } from './admin/admin.module';
import { HealthModule } from './health/health.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { ModelsModule } from './models/models.module';
import { OpenAiModule } from './openai/openai.module';
import { RedisConnection } from './redis/redis-connection';
import { RedisModule } from './redis/redis.module';
import { TtsModule } from './tts/tts.module';
import { WebModule } from './web/web.module';
import { WyomingModule } from './wyoming/wyoming.module';

/**
 * The TTS server: feature modules wired by dependency injection, and the cross-cutting
 * pipeline (validation pipe, rate-limit guard, error filter) registered as providers so
 * that a testing module runs exactly what production runs.
 */
@Module({})
export class AppModule {
  /** @param settingsOverrides values that take precedence over the environment (tests, benchmarks). */
  static forRoot(settingsOverrides: Record<string, string | undefined> = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        SettingsModule.forRoot(settingsOverrides),
        LoggingModule,
        JsonBodyModule,
        MetricsModule,
        RedisModule,
        ThrottlerModule.forRootAsync({
          inject: [Settings, RedisConnection],
          useFactory: rateLimitOptions,
        }),
        EngineModule,
        ModelsModule,
        TtsModule,
        OpenAiModule,
        HealthModule,
        AdminModule,
        WebModule,
        WyomingModule,
      ],
      providers: [
        EngineWarmupService,
        ApiKeysService,
        { provide: APP_PIPE, useClass: RequestValidationPipe },
        // Rate limits first, so guessing keys is throttled too.
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: DomainExceptionFilter },
      ],
    };
  }
}
