/**
 * How an error is written to the client, in one place for the exception filter and
 * for what Node's HTTP server answers before Express runs (a request timeout): the
 * status, headers and message come from describeError; the body is the server's
 * envelope {statusCode, error, message, requestId, code}, or OpenAI's
 * {"error": {message, type, code, param}} on the OpenAI routes (/v1/*), whose clients
 * read only that shape. Headers already set on the response (X-Request-Id, CORS,
 * security headers) stay.
 */
import type { Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { describeError, type DescribedError } from '../http-errors';

export interface ErrorEnvelope {
  statusCode: number;
  error: string;
  message: string | string[];
  requestId?: string;
  code: string;
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string; param: null };
}

/** The OpenAI-compatible routes, whose errors take OpenAI's shape. */
const OPENAI_PATH = /^\/v1(\/|$)/;

/** The request as much as an error needs of it: its id, method and URL, when known. */
export interface ErroredRequest {
  requestId?: string;
  method?: string;
  url?: string;
  originalUrl?: string;
}

/** The body for `described` on the route `request` came to. */
export function errorBody(
  described: DescribedError,
  request: ErroredRequest,
): ErrorEnvelope | OpenAiErrorBody {
  const { status, message, code } = described;
  const path = request.originalUrl ?? request.url ?? '';
  if (OPENAI_PATH.test(path)) {
    return {
      error: {
        message: Array.isArray(message) ? message.join('; ') : message,
        type:
          status === 429
            ? 'rate_limit_exceeded'
            : status < 500
              ? 'invalid_request_error'
              : 'server_error',
        code: code.toLowerCase(),
        param: null,
      },
    };
  }
  return {
    statusCode: status,
    error: STATUS_CODES[status] ?? 'Error',
    message,
    requestId: request.requestId,
    code,
  };
}

/**
 * Describes `exception`, logs what deserves it (a bug with its stack, other 5xx as a
 * warning; 4xx are in the request's completion line), and answers it on `response`.
 */
export function sendError(
  exception: unknown,
  request: ErroredRequest,
  response: ServerResponse,
  logger: Logger,
): void {
  const described = describeError(exception);
  const { status, code, message, headers } = described;
  if (!described.expected) {
    logger.error(
      `request ${request.requestId ?? '-'} ${request.method} ${request.originalUrl ?? request.url} failed`,
      exception instanceof Error ? exception.stack : String(exception),
    );
  } else if (status >= 500) {
    logger.warn(`request ${request.requestId ?? '-'}: ${status} ${code} ${String(message)}`);
  }
  if (response.headersSent) {
    // A streamed response already started: all that is left is to end it.
    response.end();
    return;
  }
  for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
  const body = JSON.stringify(errorBody(described, request));
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.end(body);
}
