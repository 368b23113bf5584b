import { ApiProperty } from '@nestjs/swagger';

export class PhonemizedSentenceDto {
  @ApiProperty({ type: [String], example: ['h', 'ə', 'l', 'ˈ', 'o', 'ʊ', '.'] })
  phonemes!: string[];

  @ApiProperty({
    type: [Number],
    example: [1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 10, 0, 2],
  })
  phoneme_ids!: number[];
}

export class PhonemizeResponseDto {
  @ApiProperty({ type: [PhonemizedSentenceDto] })
  sentences!: PhonemizedSentenceDto[];
}
