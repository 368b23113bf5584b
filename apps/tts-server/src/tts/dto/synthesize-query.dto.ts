import { OmitType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { SynthesizeDto } from './synthesize.dto';

/**
 * A query value that spells a number becomes that number; anything else stays a string
 * so the number validators reject it with their usual message.
 */
const queryNumber = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))
    ? Number(value)
    : value;

/**
 * GET /tts's query: the parameters of POST /tts's body with the same validation and
 * limits (inherited), numbers parsed from their query strings. No `stream`: a GET
 * answers the whole file, which is what lets it carry an ETag and serve ranges; no
 * `timestamps` (JSON), but `format=vtt` gives captions a `<track>` element can load.
 */
export class SynthesizeQueryDto extends OmitType(SynthesizeDto, ['stream', 'timestamps'] as const) {
  @Transform(queryNumber)
  override length_scale?: number;

  @Transform(queryNumber)
  override noise_scale?: number;

  @Transform(queryNumber)
  override noise_w?: number;

  @Transform(queryNumber)
  override sentence_silence?: number;

  @Transform(queryNumber)
  override volume?: number;
}
