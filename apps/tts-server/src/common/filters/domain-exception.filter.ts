/**
 * The one place where errors become HTTP responses. Every error leaves as the stable
 * envelope {statusCode, error, message, requestId}; domain errors are mapped by their
 * code, Nest's HttpExceptions keep their status, body-parser failures (malformed JSON,
 * oversized body) keep theirs, and anything else is a 500 whose details stay in the
 * log under the request id — never a stack trace to the client.
 */
import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { PiperError } from '@app/piper';
import { STATUS_BY_ERROR_CODE } from '../http-errors';
import type { RequestWithId } from '../request-id';

export interface ErrorEnvelope {
  statusCode: number;
  error: string;
  message: string | string[];
  requestId?: string;
  code?: string;
}

@Catch()
export class DomainExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<RequestWithId>();
    const response = http.getResponse<Response>();
    const { status, message, code, retryAfterSeconds } = this.describe(exception);

    if (exception instanceof HttpException && isStructuredBody(exception.getResponse())) {
      // A deliberate structured answer, e.g. terminus's readiness report with a 503:
      // the probe's details are the useful part, so they go out unchanged.
      response.status(status).json(exception.getResponse());
      return;
    }
    if (
      status >= 500 &&
      !(exception instanceof PiperError) &&
      !(exception instanceof HttpException)
    ) {
      this.logger.error(
        `request ${request.requestId ?? '-'} ${request.method} ${request.originalUrl} failed`,
        exception instanceof Error ? exception.stack : String(exception),
      );
    } else if (status >= 500) {
      this.logger.warn(
        `request ${request.requestId ?? '-'}: ${status} ${code ?? ''} ${String(message)}`,
      );
    }

    if (response.headersSent) {
      // A streamed response already started: all that is left is to end it.
      response.end();
      return;
    }
    if (retryAfterSeconds !== undefined)
      response.setHeader('Retry-After', String(retryAfterSeconds));
    const body: ErrorEnvelope = {
      statusCode: status,
      error: STATUS_CODES[status] ?? 'Error',
      message,
      requestId: request.requestId,
      ...(code ? { code } : {}),
    };
    response.status(status).json(body);
  }

  private describe(exception: unknown): {
    status: number;
    message: string | string[];
    code?: string;
    retryAfterSeconds?: number;
  } {
    if (exception instanceof PiperError) {
      const status = STATUS_BY_ERROR_CODE[exception.code] ?? HttpStatus.INTERNAL_SERVER_ERROR;
      const retryAfter = (exception as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      return {
        status,
        message: exception.message,
        code: exception.code,
        retryAfterSeconds: typeof retryAfter === 'number' ? retryAfter : undefined,
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const payload = exception.getResponse();
      const message =
        typeof payload === 'object' && payload !== null && 'message' in payload
          ? (payload as { message: string | string[] }).message
          : exception.message;
      return { status, message };
    }
    // body-parser (http-errors): malformed JSON 400, body too large 413, bad charset 415.
    const httpError = exception as {
      status?: unknown;
      expose?: unknown;
      type?: unknown;
      message?: unknown;
    };
    if (
      typeof httpError.status === 'number' &&
      httpError.status >= 400 &&
      httpError.status < 500 &&
      httpError.expose
    ) {
      const message =
        httpError.type === 'entity.parse.failed'
          ? 'malformed JSON in request body'
          : httpError.type === 'entity.too.large'
            ? 'request body is too large'
            : String(httpError.message);
      return { status: httpError.status, message };
    }
    return { status: HttpStatus.INTERNAL_SERVER_ERROR, message: 'internal server error' };
  }
}

/** An HttpException body that is an object without Nest's `message` field. */
function isStructuredBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !('message' in body);
}
