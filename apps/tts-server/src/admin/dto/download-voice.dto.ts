import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

export class DownloadVoiceDto {
  @ApiProperty({
    description: 'A voice (or alias) of the catalogue',
    example: 'en_US-lessac-medium',
  })
  @IsString()
  @MaxLength(200)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'name must be a voice name ([A-Za-z0-9_-]+)' })
  name!: string;
}

export class AvailableVoicesQueryDto {
  @ApiPropertyOptional({ description: 'Language filter, e.g. en or en_GB' })
  @IsOptional()
  @IsString()
  @MaxLength(20)
  @Matches(/^[A-Za-z_-]*$/, { message: 'language must be a language code such as en or en_GB' })
  language?: string;
}
