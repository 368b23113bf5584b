/**
 * Slow and broken clients, bounded by Node's own HTTP server: headers within
 * HEADERS_TIMEOUT_MS, the whole request within REQUEST_TIMEOUT_MS (a body promised by
 * Content-Length and never sent used to hold its connection for Node's 300 s), idle
 * keep-alive connections closed after KEEP_ALIVE_TIMEOUT_MS. Node checks the first two
 * on an interval (30 s by default, read when the server starts listening), so it is
 * shortened to keep a timeout near its setting. Waiting connections cost a socket
 * each, no event-loop time, so hundreds of them do not delay a probe.
 *
 * Node answers what its parser refuses (a timeout, a malformed request, headers too
 * large) itself, with a bare status line. With a `clientError` listener the server
 * answers instead, in the same JSON shape as every other error: a request whose headers
 * had arrived gets its request id, CORS headers and log line, which its response
 * already carries (the middleware ran before the body was awaited); one that never got
 * that far gets a fresh request id.
 */
import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Settings } from '../config/settings';
import { describeError } from './http-errors';
import { errorBody, sendError } from './filters/error-response';
import { HttpParseError, RequestTimeoutError } from './server-errors';

/** Longest Node waits between two checks of the header and request timeouts. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

export function boundSlowClients(app: NestExpressApplication, settings: Settings): void {
  // connectionsCheckingInterval is a documented option (Node 18.12) @types/node omits.
  const server = app.getHttpServer() as Server & { connectionsCheckingInterval: number };
  server.headersTimeout = settings.HEADERS_TIMEOUT_MS;
  server.requestTimeout = settings.REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = settings.KEEP_ALIVE_TIMEOUT_MS;
  server.connectionsCheckingInterval = Math.min(
    TIMEOUT_CHECK_INTERVAL_MS,
    settings.HEADERS_TIMEOUT_MS,
  );

  const logger = new Logger('HTTP');
  // The response in progress on each connection, for a timeout that strikes mid-body.
  const responses = new WeakMap<Duplex, ServerResponse>();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    responses.set(request.socket, response);
    response.once('finish', () => responses.delete(request.socket));
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const exception = timedOut
      ? new RequestTimeoutError(
          responses.has(socket) ? settings.REQUEST_TIMEOUT_MS : settings.HEADERS_TIMEOUT_MS,
        )
      : new HttpParseError(error.code === 'HPE_HEADER_OVERFLOW');
    const response = responses.get(socket);
    if (response && !response.headersSent) {
      response.setHeader('Connection', 'close');
      response.once('finish', () => socket.destroy());
      sendError(exception, response.req, response, logger);
      return;
    }
    if (!socket.writable || response) {
      // The client is gone, or a response had started: nothing can be said any more.
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    const described = describeError(exception);
    const body = JSON.stringify(errorBody(described, { requestId }));
    logger.log(`request ${requestId}: ${described.status} ${described.code} (${error.code})`);
    socket.end(
      `HTTP/1.1 ${described.status} ${STATUS_CODES[described.status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
      () => socket.destroy(),
    );
  });
}
