import { AUDIO_FORMATS, describeFormats, type AudioFormat } from '@app/audio-formats';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { SYNTHESIS_LIMITS } from '@app/piper';
import { MAX_TEXT_LENGTH_TOKEN } from '../../common/pipes/request-validation.pipe';
import { CAPTION_FORMATS, type CaptionFormat } from '../timestamps';

/**
 * The rule of a text field. Its length (MAX_TEXT_LENGTH, a setting, in code points after
 * normalisation) is checked by the service; the body limit bounds what reaches here.
 */
export const TEXT_RULE = `$property must be a string of 1 to ${MAX_TEXT_LENGTH_TOKEN} characters`;
export const VOICE_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

const speakerToString = ({ value }: { value: unknown }): unknown =>
  typeof value === 'number' && Number.isInteger(value) ? String(value) : value;

export class PhonemizeDto {
  @ApiProperty({ description: 'Text to phonemize', example: 'Hello world. How are you?' })
  @IsString({ message: TEXT_RULE })
  @IsNotEmpty({ message: TEXT_RULE })
  text!: string;

  @ApiPropertyOptional({
    description: 'Voice name (see GET /voices); default: the server default voice',
    example: 'en_US-lessac-medium',
  })
  @IsOptional()
  @IsString()
  @Matches(VOICE_NAME_PATTERN, { message: 'model must be a voice name ([A-Za-z0-9_-]+)' })
  model?: string;
}

export class SynthesizeDto extends PhonemizeDto {
  @ApiPropertyOptional({
    description: 'Speaker index ("0") or a name from the voice\'s speaker_id_map',
    example: '0',
    type: String,
  })
  @IsOptional()
  @Transform(speakerToString)
  @IsString()
  @MaxLength(200)
  speaker_id?: string;

  @ApiPropertyOptional({
    description: 'Phoneme length, larger is slower',
    minimum: 0.05,
    maximum: 20,
    example: 1,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(SYNTHESIS_LIMITS.lengthScale.min)
  @Max(SYNTHESIS_LIMITS.lengthScale.max)
  length_scale?: number;

  @ApiPropertyOptional({ description: 'Generator noise', minimum: 0, maximum: 10, example: 0.667 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(SYNTHESIS_LIMITS.noiseScale.min)
  @Max(SYNTHESIS_LIMITS.noiseScale.max)
  noise_scale?: number;

  @ApiPropertyOptional({
    description: 'Phoneme width noise',
    minimum: 0,
    maximum: 10,
    example: 0.8,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(SYNTHESIS_LIMITS.noiseW.min)
  @Max(SYNTHESIS_LIMITS.noiseW.max)
  noise_w?: number;

  @ApiPropertyOptional({
    description: 'Seconds of silence after each sentence',
    minimum: 0,
    maximum: 60,
    example: 0.2,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(SYNTHESIS_LIMITS.sentenceSilenceSeconds.min)
  @Max(SYNTHESIS_LIMITS.sentenceSilenceSeconds.max)
  sentence_silence?: number;

  @ApiPropertyOptional({
    description: 'Volume multiplier after peak normalisation',
    minimum: 0,
    maximum: 100,
    example: 1,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(SYNTHESIS_LIMITS.volume.min)
  @Max(SYNTHESIS_LIMITS.volume.max)
  volume?: number;

  @ApiPropertyOptional({
    description:
      'Send the audio as each sentence is ready (chunked transfer; WAV gets a header with unknown sizes). A long first sentence is spoken clause by clause so the first audio comes quickly.',
    default: false,
  })
  @IsOptional()
  @IsBoolean()
  stream?: boolean;

  @ApiPropertyOptional({
    description:
      "Answer JSON with the audio (base64) and when each word and phoneme is spoken, from the network's own durations: {audio, format, sample_rate, duration, words: [{text, start, end, char_start, char_end}], phonemes: [{phoneme, start, end}]}; times in seconds of the returned audio, char offsets in code points of `text`. With `stream`: Server-Sent Events, an `audio` event (base64) and a `timestamps` event per sentence, then `done`. Not with mp3 or aac (their encoder delay shifts the audio) nor with vtt/srt. 422 for a voice whose network has no durations.",
    default: false,
  })
  @IsOptional()
  @IsBoolean()
  timestamps?: boolean;

  @ApiPropertyOptional({
    description:
      'The text is SSML (<speak>…</speak>): breaks, prosody rate and volume, voice switches, say-as, phoneme, sub, emphasis. Default: SSML when the text starts with <speak; false reads such a text as plain text.',
  })
  @IsOptional()
  @IsBoolean()
  ssml?: boolean;

  @ApiPropertyOptional({
    description:
      'SSML only: <audio> and unknown elements are a 400 naming them (true), or their content is spoken and X-SSML-Warnings says so (false)',
    default: true,
  })
  @IsOptional()
  @IsBoolean()
  ssml_strict?: boolean;

  @ApiPropertyOptional({
    description: `${describeFormats(AUDIO_FORMATS)}; every format can stream. \`vtt\` (WebVTT) and \`srt\` (SubRip): captions of the speech instead of audio, cues of at most 42 characters within one sentence, timed as the audio of the same request (not streamed)`,
    enum: [...AUDIO_FORMATS, ...CAPTION_FORMATS],
    default: 'wav',
  })
  @IsOptional()
  @IsIn([...AUDIO_FORMATS, ...CAPTION_FORMATS])
  format?: AudioFormat | CaptionFormat;
}
