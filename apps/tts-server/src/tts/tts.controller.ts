import { Body, Controller, Get, HttpCode, Post, Query, UseInterceptors } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiExtraModels,
  ApiGatewayTimeoutResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ApiKeyProtected } from '../common/guards/api-key.guard';
import { RateLimitClient } from '../common/guards/rate-limit';
import { ClientDisconnectSignal } from '../common/client-disconnect-signal.decorator';
import { ErrorEnvelopeDto } from '../common/error-envelope.dto';
import { CachedAudioResponse } from './cached-audio-response';
import { ConditionalAudioInterceptor } from './conditional-audio.interceptor';
import { PhonemizeResponseDto } from './dto/phonemize-response.dto';
import { TIMESTAMPS_MODELS } from './dto/timestamps-response.dto';
import { SynthesizeQueryDto } from './dto/synthesize-query.dto';
import { PhonemizeDto, SynthesizeDto } from './dto/synthesize.dto';
import {
  GET_TTS_MEDIA_TYPES,
  POST_TTS_MEDIA_TYPES,
  getTtsContent,
  postTtsContent,
} from './tts-api-responses';
import { TtsService } from './tts.service';
import { XCacheInterceptor } from './x-cache.interceptor';

@ApiTags('tts')
@ApiBearerAuth()
@ApiKeyProtected()
@ApiUnauthorizedResponse({
  description: 'API_KEYS is set and the request has no valid Bearer key',
  type: ErrorEnvelopeDto,
})
@ApiBadRequestResponse({
  description: 'Invalid body: empty or too long text, wrong types, unknown fields, malformed JSON',
  type: ErrorEnvelopeDto,
})
@ApiNotFoundResponse({
  description: 'Unknown voice or speaker; the message lists what exists',
  type: ErrorEnvelopeDto,
})
@ApiTooManyRequestsResponse({
  description: 'Rate limited (Retry-After header)',
  type: ErrorEnvelopeDto,
})
// Every route here runs on the worker pool: it can be busy or time out.
@ApiServiceUnavailableResponse({
  description: 'All synthesis slots and queue places taken (Retry-After)',
  type: ErrorEnvelopeDto,
})
@ApiGatewayTimeoutResponse({
  description: 'Synthesis took longer than SYNTH_TIMEOUT_MS',
  type: ErrorEnvelopeDto,
})
@ApiExtraModels(...TIMESTAMPS_MODELS)
@Controller()
export class TtsController {
  constructor(private readonly tts: TtsService) {}

  @Post('tts')
  @HttpCode(200)
  @UseInterceptors(XCacheInterceptor, ConditionalAudioInterceptor)
  @ApiOperation({
    summary: 'Synthesize text to WAV, raw PCM, MP3, Opus, FLAC or AAC, whole or streamed',
  })
  @ApiProduces(...POST_TTS_MEDIA_TYPES)
  @ApiOkResponse({
    description:
      'The audio in the requested format (WAV by default); with `timestamps` JSON (the audio in base64, words and phonemes timed), or with `stream` too Server-Sent Events; with format vtt or srt captions. Header X-Cache: HIT|MISS',
    content: postTtsContent(),
  })
  synthesize(
    @Body() dto: SynthesizeDto,
    @ClientDisconnectSignal() clientGone: AbortSignal,
    @RateLimitClient() client: string | undefined,
  ): Promise<CachedAudioResponse> {
    return this.tts.synthesize(dto, { clientGone, client });
  }

  @Get('tts')
  @UseInterceptors(XCacheInterceptor, ConditionalAudioInterceptor)
  @ApiOperation({
    summary: 'Synthesize text from query parameters: a link an <audio> element can play and seek',
    description:
      'The parameters of POST /tts (except stream) as a query, with the same validation and limits; always the whole file, inline. Strong ETag (If-None-Match → 304) and byte ranges (Range → 206, Accept-Ranges: bytes).',
  })
  @ApiProduces(...GET_TTS_MEDIA_TYPES)
  @ApiOkResponse({
    description:
      'The whole audio, or captions with format=vtt|srt (for a <track> element); headers ETag, Accept-Ranges, X-Cache: HIT|MISS, X-Cache-Tier: memory|disk on a hit',
    content: getTtsContent(),
  })
  @ApiResponse({
    status: 206,
    description: 'The byte range asked for with Range (Content-Range says which)',
    schema: { type: 'string', format: 'binary' },
  })
  @ApiResponse({ status: 304, description: 'If-None-Match named the current ETag' })
  @ApiResponse({
    status: 416,
    description: 'The Range lies outside the audio (Content-Range: bytes */length)',
    type: ErrorEnvelopeDto,
  })
  synthesizeFromQuery(
    @Query() query: SynthesizeQueryDto,
    @ClientDisconnectSignal() clientGone: AbortSignal,
    @RateLimitClient() client: string | undefined,
  ): Promise<CachedAudioResponse> {
    return this.tts.synthesize(query, { clientGone, client }, 'inline');
  }

  @Post('phonemize')
  @HttpCode(200)
  @ApiOperation({ summary: 'Phonemes and phoneme ids per sentence, as the voice would speak them' })
  @ApiOkResponse({ type: PhonemizeResponseDto })
  phonemize(@Body() dto: PhonemizeDto): Promise<PhonemizeResponseDto> {
    return this.tts.phonemize(dto);
  }
}
