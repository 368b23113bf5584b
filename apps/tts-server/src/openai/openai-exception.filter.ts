import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Response } from 'express';
import { PiperError } from '@app/piper';
import { STATUS_BY_ERROR_CODE } from '../common/http-errors';

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_exceeded',
  503: 'server_error',
  504: 'server_error',
};

/**
 * Errors on the OpenAI-compatible routes in OpenAI's shape,
 * {"error": {"message", "type", "code", "param"}}, so OpenAI clients report them;
 * statuses and Retry-After are the same as on the rest of the API.
 */
@Catch()
export class OpenAiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('OpenAI');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    let status: number = HttpStatus.INTERNAL_SERVER_ERROR;
    let message = 'internal server error';
    let code: string | null = null;
    if (exception instanceof PiperError) {
      status = STATUS_BY_ERROR_CODE[exception.code] ?? HttpStatus.INTERNAL_SERVER_ERROR;
      message = exception.message;
      code = exception.code.toLowerCase();
      const retryAfter = (exception as { retryAfterSeconds?: unknown }).retryAfterSeconds;
      if (typeof retryAfter === 'number') response.setHeader('Retry-After', String(retryAfter));
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      const body = exception.getResponse();
      const raw =
        typeof body === 'object' && body !== null && 'message' in body
          ? (body).message
          : exception.message;
      message = Array.isArray(raw) ? raw.join('; ') : String(raw);
    } else {
      this.logger.error(
        'unexpected error',
        exception instanceof Error ? exception.stack : String(exception),
      );
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(status).json({
      error: { message, type: TYPE_BY_STATUS[status] ?? 'server_error', code, param: null },
    });
  }
}
