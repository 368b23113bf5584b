import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The JSON body of every error response. */
export class ErrorEnvelopeDto {
  @ApiProperty({ example: 404 })
  statusCode!: number;

  @ApiProperty({ example: 'Not Found' })
  error!: string;

  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    example: 'voice "nope" not found; installed voices: en_US-lessac-medium',
  })
  message!: string | string[];

  @ApiProperty({ example: '3f0c2a6e-8a0e-4a53-9d39-0c5f4e1b2a77' })
  requestId!: string;

  @ApiPropertyOptional({
    example: 'VOICE_NOT_FOUND',
    description: 'Stable machine-readable error code',
  })
  code?: string;
}
