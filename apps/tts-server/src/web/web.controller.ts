/**
 * The page at `/` for trying the voices, its script and style under /web/, and the
 * sample sentence for each voice. The page is a client of the public API (/voices,
 * /info, /tts, /phonemize); these routes only deliver it, so they stay out of the
 * OpenAPI document and, like the probes, out of the rate limit (loading the page must
 * not spend the budget a visitor needs for speaking).
 */
import { Controller, Get, Header, StreamableFile } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { WebAssetsService } from './web-assets.service';
import { WebService } from './web.service';

// The files change with each build: browsers revalidate rather than keep a stale page.
const CACHE_CONTROL = 'no-cache';

@ApiExcludeController()
@SkipThrottle()
@Controller()
export class WebController {
  constructor(
    private readonly assets: WebAssetsService,
    private readonly web: WebService,
  ) {}

  @Get()
  @Header('Cache-Control', CACHE_CONTROL)
  page(): StreamableFile {
    return this.assets.file('index.html');
  }

  @Get('web/app.js')
  @Header('Cache-Control', CACHE_CONTROL)
  script(): StreamableFile {
    return this.assets.file('app.js');
  }

  @Get('web/app.css')
  @Header('Cache-Control', CACHE_CONTROL)
  style(): StreamableFile {
    return this.assets.file('app.css');
  }

  @Get('web/sample-texts')
  sampleTexts(): Record<string, string> {
    return this.web.sampleTexts();
  }
}
