/**
 * The body of GET /voices, field for field as the Python Piper TTS Server returns it
 * (snake_case keys, speaker indexes as strings), described for Swagger.
 */
import { ApiProperty } from '@nestjs/swagger';

export class SpeakerResponse {
  @ApiProperty({ description: 'Index to send as the speaker of a request', example: '0' })
  index!: string;

  @ApiProperty({
    description: 'Speaker name from speaker_id_map; "default" for single-speaker voices',
    example: 'p239',
  })
  id!: string;
}

export class VoiceLanguageResponse {
  @ApiProperty({ type: String, nullable: true, example: 'en_GB' })
  code!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'en' })
  family!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'GB' })
  region!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'English' })
  name_native!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'English' })
  name_english!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Great Britain' })
  country_english!: string | null;
}

export class VoiceInferenceResponse {
  @ApiProperty({ example: 0.667 })
  noise_scale!: number;

  @ApiProperty({ example: 1 })
  length_scale!: number;

  @ApiProperty({ example: 0.8 })
  noise_w!: number;
}

export class VoiceInfoResponse {
  @ApiProperty({ type: [SpeakerResponse] })
  speakers!: SpeakerResponse[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Path of the voice card (Markdown), null when the voice ships none',
    example: '/model_card/en_GB-vctk-medium',
  })
  model_card!: string | null;

  @ApiProperty({
    description:
      'Path of a WAV sample (the recorded demo shipped with the voice, else synthesized); ' +
      'the same audio is served under <path>/raw',
    example: '/demo/en_GB-vctk-medium',
  })
  demo!: string;

  @ApiProperty({ type: VoiceLanguageResponse })
  language!: VoiceLanguageResponse;

  @ApiProperty({ type: String, nullable: true, example: 'medium' })
  quality!: string | null;

  @ApiProperty({ example: 22050 })
  sample_rate!: number;

  @ApiProperty({ example: 109 })
  num_speakers!: number;

  @ApiProperty({ example: 'espeak' })
  phoneme_type!: string;

  @ApiProperty({ description: 'espeak-ng voice used to phonemize', example: 'en-gb-x-rp' })
  espeak_voice!: string;

  @ApiProperty({ description: 'True for the voice used when a request names none' })
  default!: boolean;

  @ApiProperty({
    type: VoiceInferenceResponse,
    description:
      "The voice's own scales (its config's `inference`), used when a request sets none; " +
      'to speak at N× speed send `length_scale` = this length_scale / N',
  })
  inference!: VoiceInferenceResponse;
}

/** Voice name → description, in name order. */
export type VoicesResponse = Record<string, VoiceInfoResponse>;

/** A whole /voices answer, for the OpenAPI document. */
export const VOICES_RESPONSE_EXAMPLE: VoicesResponse = {
  'de_DE-thorsten-low': {
    speakers: [{ index: '0', id: 'default' }],
    model_card: null,
    demo: '/demo/de_DE-thorsten-low',
    language: {
      code: 'de_DE',
      family: 'de',
      region: 'DE',
      name_native: 'Deutsch',
      name_english: 'German',
      country_english: 'Germany',
    },
    quality: 'low',
    sample_rate: 16000,
    num_speakers: 1,
    phoneme_type: 'espeak',
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    espeak_voice: 'de',
    default: false,
  },
  'en_GB-vctk-medium': {
    speakers: [
      { index: '0', id: 'p239' },
      { index: '1', id: 'p236' },
    ],
    model_card: '/model_card/en_GB-vctk-medium',
    demo: '/demo/en_GB-vctk-medium',
    language: {
      code: 'en_GB',
      family: 'en',
      region: 'GB',
      name_native: 'English',
      name_english: 'English',
      country_english: 'Great Britain',
    },
    quality: 'medium',
    sample_rate: 22050,
    num_speakers: 109,
    phoneme_type: 'espeak',
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    espeak_voice: 'en-gb-x-rp',
    default: true,
  },
};
