import { Module } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { LoggerModule } from 'nestjs-pino';
import type { Level } from 'pino';
import type { RequestWithId } from '../common/request-id';
import { Settings } from '../config/settings';

/** LOG_LEVEL speaks Nest's names; pino has its own. */
const PINO_LEVEL: Record<Settings['LOG_LEVEL'], Level> = {
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/** Probes and scrapes arrive every few seconds; a line each would drown the log. */
const QUIET_PATHS = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * Structured JSON logs (pino through nestjs-pino): one line per log call and one per
 * finished request, each with the request's id (the X-Request-Id the client sent, or
 * the one the server made; see request-id.ts) as `requestId`, so every line a request
 * caused — in the pool, a filter, a service — can be found with one query. Headers are
 * not logged: they may carry API keys.
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [Settings],
      useFactory: (settings: Settings) => ({
        pinoHttp: {
          level: settings.DEBUG ? 'debug' : PINO_LEVEL[settings.LOG_LEVEL],
          // "warn" rather than 40: readable without a lookup table.
          formatters: { level: (label: string) => ({ level: label }) },
          genReqId: (request: IncomingMessage) =>
            (request as RequestWithId).requestId ?? randomUUID(),
          customAttributeKeys: { reqId: 'requestId' },
          // Lines logged during a request carry only its id, not the whole request.
          quietReqLogger: true,
          autoLogging: {
            ignore: (request: IncomingMessage) => QUIET_PATHS.has(request.url ?? ''),
          },
          // A client's mistake (4xx) is routine; a 5xx is worth a look, and its cause
          // was already logged at error level by the exception filter if it was a bug.
          customLogLevel: (_request: IncomingMessage, response: ServerResponse) =>
            response.statusCode >= 500 ? 'warn' : 'info',
          // A 5xx is already logged with its cause by the exception filter; the
          // completion line stays one shape, without pino-http's synthetic stack.
          customErrorMessage: () => 'request completed',
          customErrorObject: (
            _request: IncomingMessage,
            _response: ServerResponse,
            _error: Error,
            loggable: Record<string, unknown>,
          ) => ({ ...loggable, err: undefined }),
          serializers: {
            req: (request: { method?: string; url?: string }) => ({
              method: request.method,
              url: request.url,
            }),
            res: (response: { statusCode?: number }) => ({ statusCode: response.statusCode }),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
