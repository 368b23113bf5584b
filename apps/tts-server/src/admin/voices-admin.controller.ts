import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ErrorEnvelopeDto } from '../common/error-envelope.dto';
import { AdminKeyGuard } from './admin-key.guard';
import { AvailableVoicesQueryDto, DownloadVoiceDto } from './dto/download-voice.dto';
import { VoicesAdminService, type AvailableVoice } from './voices-admin.service';

@ApiTags('admin')
@ApiBearerAuth()
@ApiUnauthorizedResponse({ description: 'Missing or wrong ADMIN_API_KEY', type: ErrorEnvelopeDto })
@ApiForbiddenResponse({ description: 'ADMIN_API_KEY is not set', type: ErrorEnvelopeDto })
@UseGuards(AdminKeyGuard)
@Controller('voices')
export class VoicesAdminController {
  constructor(private readonly admin: VoicesAdminService) {}

  @Get('available')
  @ApiOperation({ summary: "The catalogue's voices (VOICES_BASE_URL), and which are installed" })
  available(@Query() query: AvailableVoicesQueryDto): Promise<AvailableVoice[]> {
    return this.admin.available(query.language);
  }

  @Post('download')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Download a catalogue voice into MODEL_DIR (size and md5 verified), then serve it',
  })
  @ApiOkResponse({ schema: { example: { voice: 'en_US-lessac-medium', installed: true } } })
  download(@Body() dto: DownloadVoiceDto): Promise<{ voice: string; installed: boolean }> {
    return this.admin.download(dto.name);
  }

  @Delete(':name')
  @ApiOperation({ summary: 'Remove an installed voice (not the default one)' })
  remove(@Param('name') name: string): Promise<{ voice: string; removed: string[] }> {
    return this.admin.remove(name);
  }
}
