import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module';
import { WebAssetsService } from './web-assets.service';
import { WebController } from './web.controller';
import { WebService } from './web.service';

/**
 * The page at `/` where a newcomer tries every voice: static files (public/, no build
 * step, no CDN) that talk to the API from the browser. See public/app.js.
 */
@Module({
  imports: [ModelsModule],
  controllers: [WebController],
  providers: [WebAssetsService, WebService],
})
export class WebModule {}
