/**
 * The page's static files (public/: index.html, app.js, app.css), read once at boot and
 * served from memory. They are a few kilobytes, change only with a new build, and a
 * build that lost them (nest-cli.json "assets") should stop the boot with a message
 * rather than answer 404 to the first person who opens the page.
 */
import { Injectable, OnModuleInit, StreamableFile } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the files sit beside the compiled module (copied there by `nest build`). */
export const WEB_PUBLIC_DIR = join(__dirname, 'public');

const CONTENT_TYPES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;

export type WebAssetName = keyof typeof CONTENT_TYPES;

@Injectable()
export class WebAssetsService implements OnModuleInit {
  private readonly files = new Map<WebAssetName, Buffer>();

  async onModuleInit(): Promise<void> {
    for (const name of Object.keys(CONTENT_TYPES) as WebAssetName[]) {
      const path = join(WEB_PUBLIC_DIR, name);
      try {
        this.files.set(name, await readFile(path));
      } catch (error) {
        throw new Error(
          `web page file ${path} is missing (${(error as Error).message}); ` +
            'the build copies apps/tts-server/src/web/public (nest-cli.json "assets")',
        );
      }
    }
  }

  file(name: WebAssetName): StreamableFile {
    const body = this.files.get(name);
    if (!body) throw new Error(`web page file ${name} was not loaded`);
    return new StreamableFile(body, { type: CONTENT_TYPES[name], length: body.length });
  }
}
