import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SERVICE_VERSION } from '../common/package-version';
import { Settings } from '../config/settings';
import { VoiceRegistryService } from '../models/voice-registry.service';

interface ServiceInfo {
  service: 'Piper TTS';
  version: string;
  models: string[];
  api: string;
  /** Whether synthesis routes need `Authorization: Bearer <key>` (API_KEYS is set). */
  auth_required: boolean;
  settings: { max_text_length: number; max_concurrent_requests: number };
}

@ApiTags('health')
@Controller('info')
export class InfoController {
  constructor(
    private readonly settings: Settings,
    private readonly voices: VoiceRegistryService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Service description, installed voices and limits' })
  @ApiOkResponse({
    schema: {
      example: {
        service: 'Piper TTS',
        version: '0.1.0',
        models: ['en_US-lessac-medium'],
        api: '/docs',
        auth_required: false,
        settings: { max_text_length: 500, max_concurrent_requests: 10 },
      },
    },
  })
  info(): ServiceInfo {
    return {
      service: 'Piper TTS',
      version: SERVICE_VERSION,
      models: this.voices.list().map((voice) => voice.name),
      api: '/docs',
      auth_required: this.settings.API_KEYS.length > 0,
      settings: {
        max_text_length: this.settings.MAX_TEXT_LENGTH,
        max_concurrent_requests: this.settings.MAX_CONCURRENT_REQUESTS,
      },
    };
  }
}
