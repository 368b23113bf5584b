import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { boundSlowClients } from './common/slow-clients';
import { requestIdMiddleware } from './common/request-id';
import { QuietBootLogger } from './logging/quiet-boot-logger';
import { SERVICE_VERSION } from './common/package-version';
import { Settings } from './config/settings';

/**
 * Everything about the HTTP application that is not a module: request ids, security
 * headers, CORS, Swagger UI, the HTTP server's timeouts, shutdown hooks. Shared by main.ts and the
 * e2e tests so both run the same server.
 */
export function configureApp(app: NestExpressApplication): Settings {
  const settings = app.get(Settings);
  // JSON lines through pino (LoggingModule), with the request id on each; Nest's
  // route-mapping lines at debug, so the listening line and the voices stand out.
  app.useLogger(new QuietBootLogger(app.get(Logger)));
  app.disable('x-powered-by');
  // Which hops' X-Forwarded-For to believe for the client's address (rate limits).
  app.set('trust proxy', settings.trustProxy);
  // First, so that every answer, an error of the body parser's included, has its id and
  // its CORS headers (a browser cannot read an error without them). The JSON body parser
  // runs later, as module middleware (common/json-body.ts), after the request logger.
  app.use(requestIdMiddleware);
  app.use(
    helmet({
      // Swagger UI's page needs inline styles and data: images.
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'", "'unsafe-inline'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          mediaSrc: ["'self'", 'blob:', 'data:'],
          // Self-hosted servers are often reached over plain HTTP on a LAN address.
          upgradeInsecureRequests: null,
        },
      },
    }),
  );
  if (settings.ENABLE_CORS) {
    const origins = settings.ALLOWED_ORIGINS;
    app.enableCors({
      origin: origins.includes('*') ? true : origins,
      exposedHeaders: [
        'X-Cache',
        'X-Cache-Tier',
        'X-Request-Id',
        'Retry-After',
        'Content-Disposition',
        'ETag',
        'Content-Range',
        'Accept-Ranges',
      ],
    });
  }
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Piper TTS')
      .setDescription(
        'Self-hosted Piper text-to-speech: the API of the Piper TTS Server, on an engine that speaks exactly as Piper does.',
      )
      .setVersion(SERVICE_VERSION)
      // Synthesis routes take `Authorization: Bearer <key>` when API_KEYS is set.
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'One of API_KEYS' })
      .build(),
  );
  // The OpenAPI document at Nest's default /docs-json (and /docs-yaml), where client
  // generators are pointed, and at /docs/openapi.json, where earlier releases had it.
  SwaggerModule.setup('docs', app, document);
  SwaggerModule.setup('docs/openapi', app, document, {
    ui: false,
    raw: ['json'],
    jsonDocumentUrl: 'docs/openapi.json',
  });
  boundSlowClients(app, settings);
  // Exit with code 0 after a graceful stop: by default Nest re-raises the signal, which
  // Docker and Kubernetes report as a failure (exit 143).
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  return settings;
}
