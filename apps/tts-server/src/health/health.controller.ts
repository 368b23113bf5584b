import { Controller, Get } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { SkipThrottle } from '@nestjs/throttler';
import { SERVICE_VERSION } from '../common/package-version';
import { VoiceRegistry } from '../models/voice-registry.service';
import { EngineHealthIndicator } from './engine.health';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly engine: EngineHealthIndicator,
    private readonly voices: VoiceRegistry,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Service status (the Piper TTS Server shape)' })
  @ApiOkResponse({ schema: { example: { status: 'ok', version: '0.1.0', models_available: 2 } } })
  status(): { status: 'ok'; version: string; models_available: number } {
    return { status: 'ok', version: SERVICE_VERSION, models_available: this.voices.list().length };
  }

  /** Liveness: the process answers HTTP. Probes are not rate limited. */
  @Get('live')
  @SkipThrottle()
  @HealthCheck()
  @ApiOperation({ summary: 'Kubernetes liveness probe' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @SkipThrottle()
  @HealthCheck()
  @ApiOperation({
    summary: 'Kubernetes readiness probe: 200 once the default voice is loaded in every worker',
  })
  @ApiServiceUnavailableResponse({
    description: 'Not ready (starting, no voice, or shutting down)',
  })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.engine.check()]);
  }
}
