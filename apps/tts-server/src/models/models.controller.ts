/**
 * GET /voices, /model_card/:model and /demo/:model[/raw], as the Python Piper TTS
 * Server serves them. `:model` is only ever a key into the voice registry (see
 * voice-registry.service.ts), never part of a path; unknown names are 404s from the
 * exception filter.
 *
 * Content types travel with the StreamableFile rather than @Header: Nest applies
 * @Header before the handler runs, so a 404 thrown by the handler would leave as JSON
 * labelled audio/wav.
 */
import { Controller, Get, Param, StreamableFile } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  type ApiResponseOptions,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { type DemoAudio, ModelsService } from './models.service';
import {
  VOICES_RESPONSE_EXAMPLE,
  VoiceInfoResponse,
  type VoicesResponse,
} from './voice-info.response';

const MARKDOWN = 'text/markdown; charset=utf-8';
const WAV = 'audio/wav';

const MODEL_PARAM = {
  name: 'model',
  description: 'Voice name as listed by GET /voices',
  example: 'en_US-lessac-medium',
} as const;

/** A 404 as the exception filter writes it: JSON, whatever the route produces on success. */
const notFound = (description: string, code: string, message: string): ApiResponseOptions => ({
  description,
  content: {
    'application/json': {
      schema: {
        example: {
          statusCode: 404,
          error: 'Not Found',
          message,
          requestId: '5f0c6a1e-2f4b-4a51-9a52-1d1f0a7c3e11',
          code,
        },
      },
    },
  },
});

/** The card as a Markdown body. */
function markdownFile(card: Buffer): StreamableFile {
  return new StreamableFile(card, { type: MARKDOWN });
}

/** The demo as an inline WAV; the file name comes from the registry's voice name only. */
function wavFile({ voice, wav }: DemoAudio): StreamableFile {
  return new StreamableFile(wav, { type: WAV, disposition: `inline; filename=demo_${voice}.wav` });
}

@ApiTags('models')
@ApiExtraModels(VoiceInfoResponse)
@Controller()
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get('voices')
  @ApiOperation({ summary: 'Installed voices with their speakers, language and links' })
  @ApiOkResponse({
    description: 'Voice name → description, in name order',
    schema: {
      type: 'object',
      additionalProperties: { $ref: getSchemaPath(VoiceInfoResponse) },
      example: VOICES_RESPONSE_EXAMPLE,
    },
  })
  voices(): VoicesResponse {
    return this.models.voices();
  }

  @Get('model_card/:model')
  @ApiOperation({ summary: "The voice's model card (dataset, license, training notes)" })
  @ApiParam(MODEL_PARAM)
  @ApiProduces('text/markdown')
  @ApiOkResponse({
    description: 'The card as shipped beside the voice (MODEL_CARD or *.md)',
    schema: { type: 'string', example: '# Model card for lessac (medium)\n\n* Language: en_US\n' },
  })
  @ApiNotFoundResponse(
    notFound(
      'No such voice, or the voice ships no card',
      'MODEL_CARD_NOT_FOUND',
      'voice "en_US-lessac-medium" has no model card',
    ),
  )
  async modelCard(@Param('model') model: string): Promise<StreamableFile> {
    return markdownFile(await this.models.modelCard(model));
  }

  @Get(['demo/:model', 'demo/:model/raw'])
  @ApiOperation({
    summary: 'A short sample of the voice',
    description:
      'The recorded demo shipped with the voice, or else one sentence in its language ' +
      'synthesized on first request and kept in memory. Both paths serve the same audio.',
  })
  @ApiParam(MODEL_PARAM)
  @ApiProduces(WAV)
  @ApiOkResponse({
    description: '16-bit mono PCM WAV at the voice sample rate',
    schema: { type: 'string', format: 'binary' },
  })
  @ApiNotFoundResponse(
    notFound(
      'No such voice',
      'VOICE_NOT_FOUND',
      'voice "xx" is not installed; installed voices: en_US-lessac-medium',
    ),
  )
  async demo(@Param('model') model: string): Promise<StreamableFile> {
    return wavFile(await this.models.demo(model));
  }
}
