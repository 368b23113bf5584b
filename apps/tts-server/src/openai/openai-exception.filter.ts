import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { PiperError } from '@app/piper';
import { describeError } from '../common/http-errors';

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'rate_limit_exceeded',
};

/**
 * Errors on the OpenAI-compatible routes in OpenAI's shape,
 * {"error": {"message", "type", "code", "param"}}, so OpenAI clients report them. The
 * status, message and headers come from the server's one error mapping.
 */
@Catch()
export class OpenAiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('OpenAI');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const { status, message, code, headers } = describeError(exception);
    if (
      !(exception instanceof PiperError) &&
      !(exception instanceof HttpException) &&
      status >= 500
    ) {
      this.logger.error(
        'unexpected error',
        exception instanceof Error ? exception.stack : String(exception),
      );
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    response.status(status).json({
      error: {
        message: Array.isArray(message) ? message.join('; ') : message,
        type: TYPE_BY_STATUS[status] ?? 'server_error',
        code: code ? code.toLowerCase() : null,
        param: null,
      },
    });
  }
}
