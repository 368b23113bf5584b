/**
 * The one place where errors become HTTP responses (see error-response.ts): domain
 * errors are mapped by their code, Nest's HttpExceptions keep their status, body-parser
 * failures become domain errors, and anything else is a 500 whose details stay in the
 * log under the request id — never a stack trace to the client. Global, so that the
 * body parser's errors (raised before any controller) get it too, on /v1/* in OpenAI's
 * shape.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { RequestWithId } from '../request-id';
import { sendError } from './error-response';

@Catch()
export class DomainExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<RequestWithId>();
    const response = http.getResponse<Response>();
    if (exception instanceof HttpException && isStructuredBody(exception.getResponse())) {
      // A deliberate structured answer, e.g. terminus's readiness report with a 503:
      // the probe's details are the useful part, so they go out unchanged.
      response.status(exception.getStatus()).json(exception.getResponse());
      return;
    }
    sendError(exception, request, response, this.logger);
  }
}

/** An HttpException body that is an object without Nest's `message` field. */
function isStructuredBody(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !('message' in body);
}
