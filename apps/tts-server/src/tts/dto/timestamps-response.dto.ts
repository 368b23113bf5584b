/**
 * The shapes of what POST /tts answers with `timestamps` (issue 17), for the OpenAPI
 * document: the JSON body, and the payloads of the event stream's events. The service
 * writes these bodies itself (timestamps.ts, timestamps-stream.ts); these classes only
 * describe them, field for field.
 */
import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';

export class WordTimestampDto {
  @ApiProperty({ description: 'The word as written in `text`', example: 'Hello' })
  text!: string;

  @ApiProperty({ description: 'When it starts, in seconds of the returned audio', example: 0.08 })
  start!: number;

  @ApiProperty({ description: 'When it ends, in seconds of the returned audio', example: 0.43 })
  end!: number;

  @ApiProperty({
    description: 'Offset of its first character in `text`, in code points',
    example: 0,
  })
  char_start!: number;

  @ApiProperty({
    description: 'Offset after its last character in `text`, in code points',
    example: 5,
  })
  char_end!: number;
}

export class PhonemeTimestampDto {
  @ApiProperty({
    description: 'One phoneme symbol (NFD code point), or ^ and $ around each sentence',
    example: 'h',
  })
  phoneme!: string;

  @ApiProperty({ description: 'In seconds of the returned audio', example: 0.081 })
  start!: number;

  @ApiProperty({ description: 'In seconds of the returned audio', example: 0.116 })
  end!: number;
}

export class MarkTimestampDto {
  @ApiProperty({ description: 'The name of an SSML <mark>', example: 'here' })
  name!: string;

  @ApiProperty({
    description: 'When it is reached, in seconds of the returned audio',
    example: 0.5,
  })
  time!: number;
}

/** What SSML adds: its words are those of the spoken text, not of the markup. */
const SPOKEN_TEXT = {
  description:
    'SSML only: the text spoken (each stretch as spoken, <sub> and <say-as> read out), which the char offsets count in',
  example: 'Hello world.',
};
const MARKS_DESCRIPTION = "SSML only: each <mark>'s time";
const MARKS: ApiPropertyOptions = {
  type: [MarkTimestampDto],
  description: MARKS_DESCRIPTION,
};

export class TimestampsResponseDto {
  @ApiProperty({
    description: 'The audio file in `format`, base64: the same bytes as without timestamps',
    format: 'byte',
  })
  audio!: string;

  @ApiProperty({ description: 'The audio format asked for', example: 'wav' })
  format!: string;

  @ApiProperty({ description: 'Samples per second of the audio', example: 22050 })
  sample_rate!: number;

  @ApiProperty({ description: 'Length of the audio in seconds', example: 1.21 })
  duration!: number;

  @ApiProperty({ type: [WordTimestampDto], description: 'Every word of `text`, in order' })
  words!: WordTimestampDto[];

  @ApiProperty({ type: [PhonemeTimestampDto], description: 'Every phoneme spoken, in order' })
  phonemes!: PhonemeTimestampDto[];

  @ApiPropertyOptional(SPOKEN_TEXT)
  text?: string;

  @ApiPropertyOptional(MARKS)
  marks?: MarkTimestampDto[];
}

/** `event: audio`: one sentence's speech and silence. */
export class SentenceAudioEventDto {
  @ApiProperty({ description: 'The sentence, from 0', example: 0 })
  index!: number;

  @ApiProperty({ description: '16-bit little-endian mono PCM, base64', format: 'byte' })
  audio!: string;

  @ApiProperty({ enum: ['pcm'], example: 'pcm' })
  format!: 'pcm';

  @ApiProperty({ example: 22050 })
  sample_rate!: number;
}

/** `event: timestamps`: the same sentence's words and phonemes, in seconds of the stream. */
export class SentenceTimestampsEventDto {
  @ApiProperty({ description: 'The sentence, from 0 (as its audio event)', example: 0 })
  index!: number;

  @ApiProperty({ type: [WordTimestampDto] })
  words!: WordTimestampDto[];

  @ApiProperty({ type: [PhonemeTimestampDto] })
  phonemes!: PhonemeTimestampDto[];

  @ApiPropertyOptional({
    ...SPOKEN_TEXT,
    description: `${SPOKEN_TEXT.description}; in the first event`,
  })
  text?: string;

  @ApiPropertyOptional({
    ...MARKS,
    description: `${MARKS_DESCRIPTION}: the marks this audio reaches`,
  })
  marks?: MarkTimestampDto[];
}

/** `event: done`: the stream's end. */
export class StreamDoneEventDto {
  @ApiProperty({ description: 'Seconds of audio sent', example: 2.42 })
  duration!: number;

  @ApiProperty({ example: 22050 })
  sample_rate!: number;
}

/** `event: error`: synthesis failed after the first event (the status line was sent). */
export class StreamErrorEventDto {
  @ApiProperty({ example: 'Synthesis took longer than 30000 ms' })
  message!: string;
}

/** Every model above, for ApiExtraModels. */
export const TIMESTAMPS_MODELS = [
  WordTimestampDto,
  PhonemeTimestampDto,
  MarkTimestampDto,
  TimestampsResponseDto,
  SentenceAudioEventDto,
  SentenceTimestampsEventDto,
  StreamDoneEventDto,
  StreamErrorEventDto,
];
