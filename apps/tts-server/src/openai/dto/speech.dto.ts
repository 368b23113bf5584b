import { describeFormats, type AudioFormat } from '@app/audio-formats';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { TEXT_RULE } from '../../tts/dto/synthesize.dto';

/** Every response_format of OpenAI's speech API, in OpenAI's order; all are served. */
export const OPENAI_FORMATS = [
  'mp3',
  'opus',
  'aac',
  'flac',
  'wav',
  'pcm',
] as const satisfies readonly AudioFormat[];

/** The body of OpenAI's POST /v1/audio/speech. */
export class SpeechDto {
  @ApiProperty({
    description: 'A voice name, or tts-1 / tts-1-hd / gpt-4o-mini-tts for the default voice',
    example: 'tts-1',
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  model!: string;

  @ApiProperty({ description: 'Text to speak', example: 'Hello from Piper.' })
  @IsString({ message: TEXT_RULE })
  @IsNotEmpty({ message: TEXT_RULE })
  input!: string;

  @ApiProperty({
    description:
      'A voice name, "voice:speaker", or an OpenAI voice (alloy, ash, ballad, coral, echo, fable, onyx, nova, sage, shimmer, verse)',
    example: 'alloy',
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(300)
  voice!: string;

  @ApiPropertyOptional({
    enum: OPENAI_FORMATS,
    default: 'mp3',
    description: `${describeFormats(OPENAI_FORMATS)}; pcm at 24 kHz by default (OPENAI_PCM_SAMPLE_RATE)`,
  })
  @IsOptional()
  @IsIn(OPENAI_FORMATS)
  response_format?: AudioFormat;

  @ApiPropertyOptional({
    minimum: 0.25,
    maximum: 4,
    default: 1,
    description: 'Mapped to length_scale = 1 / speed',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.25)
  @Max(4)
  speed?: number;

  @ApiPropertyOptional({ enum: ['audio', 'sse'], default: 'audio' })
  @IsOptional()
  @IsIn(['audio', 'sse'])
  stream_format?: 'audio' | 'sse';

  @ApiPropertyOptional({
    description: 'Accepted for compatibility; Piper voices take no instructions',
  })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  instructions?: string;
}
