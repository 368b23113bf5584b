import { mediaTypesOf } from '@app/audio-formats';
import { Body, Controller, Get, HttpCode, Post, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ApiKeyProtected } from '../common/guards/api-key.guard';
import { ClientDisconnectSignal } from '../common/client-disconnect-signal.decorator';
import { RateLimitClient } from '../common/guards/rate-limit';
import { CachedAudioResponse } from '../tts/cached-audio-response';
import { XCacheInterceptor } from '../tts/x-cache.interceptor';
import { OPENAI_FORMATS, SpeechDto } from './dto/speech.dto';
import { OpenAiService, type OpenAiModel, type OpenAiVoice } from './openai.service';

/**
 * A drop-in for OpenAI's speech API (Open WebUI, Home Assistant, LLM agents). Its errors
 * take OpenAI's shape through the global filter (common/filters/error-response.ts).
 */
@ApiTags('openai')
@ApiBearerAuth()
@ApiKeyProtected()
@Controller('v1')
export class OpenAiController {
  constructor(private readonly openai: OpenAiService) {}

  @Post('audio/speech')
  @HttpCode(200)
  @UseInterceptors(XCacheInterceptor)
  @ApiOperation({
    summary: 'OpenAI-compatible speech: streamed audio, or SSE with stream_format "sse"',
  })
  @ApiProduces(...mediaTypesOf(OPENAI_FORMATS), 'text/event-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  speech(
    @Body() dto: SpeechDto,
    @ClientDisconnectSignal() clientGone: AbortSignal,
    @RateLimitClient() client: string | undefined,
  ): Promise<CachedAudioResponse> {
    return this.openai.speech(dto, { clientGone, client });
  }

  @Get('models')
  @ApiOperation({
    summary: 'OpenAI-compatible model list: tts-1, tts-1-hd, gpt-4o-mini-tts and every voice',
  })
  models(): { object: 'list'; data: OpenAiModel[] } {
    return this.openai.models();
  }

  @Get('audio/voices')
  @ApiOperation({ summary: 'OpenAI voice names and the installed voice and speaker each maps to' })
  voices(): { voices: OpenAiVoice[] } {
    return this.openai.audioVoices();
  }
}
