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
import { VoiceRegistryService } from '../models/voice-registry.service';
import { EngineHealthIndicator } from './engine.health';
import { HealthDetailsService, type HealthDetails } from './health-details.service';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly engine: EngineHealthIndicator,
    private readonly voices: VoiceRegistryService,
    private readonly detailsService: HealthDetailsService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Service status (the Piper TTS Server shape)' })
  @ApiOkResponse({ schema: { example: { status: 'ok', version: '0.1.0', models_available: 2 } } })
  status(): { status: 'ok'; version: string; models_available: number } {
    return { status: 'ok', version: SERVICE_VERSION, models_available: this.voices.list().length };
  }

  @Get('detailed')
  @ApiOperation({
    summary:
      'Operator view: readiness and why not, installed and invalid voices with reasons, workers',
    description:
      'Always 200 (it is a report, not a probe); `status` is "degraded" when a voice in MODEL_DIR ' +
      'is invalid or DEFAULT_MODEL could not be downloaded.',
  })
  @ApiOkResponse({
    schema: {
      example: {
        status: 'degraded',
        version: '0.1.0',
        uptime_seconds: 42,
        ready: true,
        default_voice: 'en_US-lessac-medium',
        default_voice_install: { state: 'not-needed' },
        voices: {
          installed: ['en_US-lessac-medium'],
          invalid: [
            {
              name: 'en_GB-alan-low',
              path: 'en_GB-alan-low/en_GB-alan-low.onnx',
              reasons: [
                'en_GB-alan-low/en_GB-alan-low.onnx: the network file is truncated (1048576 bytes, its structure needs at least 63201294): still being copied, or a broken download',
              ],
            },
          ],
          reload_interval_ms: 2000,
        },
        engine: { workers: 2, readyWorkers: 2, loadedVoices: 2 },
      },
    },
  })
  detailed(): HealthDetails {
    return this.detailsService.details();
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
