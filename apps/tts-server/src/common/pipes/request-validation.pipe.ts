/**
 * Nest's ValidationPipe as CONVENTIONS.md sets it (transform, whitelist, unknown
 * properties refused), with three things a client notices:
 *
 * - the answer is bounded: Nest's `maxErrorMessagesLength` stops listing after a few
 *   hundred characters ("… and more errors were omitted"), so a body of many unknown
 *   keys gets a short 400, not one line per key;
 * - a message may name a setting's value: `MAX_TEXT_LENGTH_TOKEN` in a DTO's message
 *   becomes this server's MAX_TEXT_LENGTH (decorators are static; the limit is not);
 * - it fails with the domain error VALIDATION_FAILED, so the 400 has a code like every
 *   other error.
 */
import { HttpException, Injectable, ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { Settings } from '../../config/settings';
import { RequestValidationError } from '../server-errors';

/** Stands for MAX_TEXT_LENGTH in a validation message. */
export const MAX_TEXT_LENGTH_TOKEN = '{MAX_TEXT_LENGTH}';

/** Characters of messages listed before the rest are left out. */
const MAX_ERROR_MESSAGES_LENGTH = 600;

@Injectable()
export class RequestValidationPipe extends ValidationPipe {
  constructor(private readonly settings: Settings) {
    super({
      transform: true,
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      maxErrorMessagesLength: MAX_ERROR_MESSAGES_LENGTH,
    });
  }

  override createExceptionFactory(): (validationErrors?: ValidationError[]) => unknown {
    const nests = super.createExceptionFactory();
    return (validationErrors) => {
      const exception = nests(validationErrors);
      const payload = exception instanceof HttpException ? exception.getResponse() : undefined;
      const listed = (payload as { message?: unknown } | undefined)?.message;
      const messages = (Array.isArray(listed) ? listed : [String(listed)]).map((message) =>
        String(message).replaceAll(MAX_TEXT_LENGTH_TOKEN, String(this.settings.MAX_TEXT_LENGTH)),
      );
      // A missing text fails two rules with one message: say it once.
      return new RequestValidationError([...new Set(messages)]);
    };
  }
}
