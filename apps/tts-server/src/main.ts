import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), {
    bodyParser: false,
    bufferLogs: true,
  });
  const settings = configureApp(app);
  await app.listen(settings.PORT, settings.HOST);
  new Logger('Bootstrap').log(
    `listening on http://${settings.HOST}:${settings.PORT} (API docs at /docs)`,
  );
}

bootstrap().catch((error: unknown) => {
  // A bad setting or an unusable MODEL_DIR: one clear line, non-zero exit.
  console.error(
    `piper-tts-server failed to start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
