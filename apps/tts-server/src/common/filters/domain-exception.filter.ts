/**
 * The one place where errors become HTTP responses. Every error leaves as the stable
 * envelope {statusCode, error, message, requestId}; domain errors are mapped by their
 * code, Nest's HttpExceptions keep their status, body-parser failures (malformed JSON,
 * oversized body) keep theirs, and anything else is a 500 whose details stay in the
 * log under the request id — never a stack trace to the client.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { PiperError } from '@app/piper';
import { describeError } from '../http-errors';
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
    const { status, message, code, headers } = describeError(exception);

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
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    const body: ErrorEnvelope = {
      statusCode: status,
      error: STATUS_CODES[status] ?? 'Error',
      message,
      requestId: request.requestId,
      ...(code ? { code } : {}),
    };
    response.status(status).json(body);
  }
}

/** An HttpException body that is an object without Nest's `message` field. */
function isStructuredBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !('message' in body);
}
