/**
 * The server's own domain errors (not the engine's: those extend PiperError). Like every
 * domain error they know nothing of HTTP; common/http-errors.ts maps each code to a
 * status in one table.
 */
import { DomainError } from '@app/errors';

/** Base of the server's domain errors. */
export abstract class ServerError extends DomainError {}

/** Text longer than MAX_TEXT_LENGTH (400). */
export class TextTooLongError extends ServerError {
  readonly code = 'TEXT_TOO_LONG';

  constructor(
    readonly length: number,
    readonly maxLength: number,
  ) {
    super(`text is ${length} characters long; the limit is ${maxLength} (MAX_TEXT_LENGTH)`);
  }
}

/** A synthesis route called without a valid API key while API_KEYS is set (401). */
export class ApiKeyError extends ServerError {
  readonly code: 'API_KEY_MISSING' | 'API_KEY_INVALID';

  constructor(missing: boolean) {
    super(
      missing
        ? 'an API key is required: send it as "Authorization: Bearer <key>"'
        : 'the API key is not valid',
    );
    this.code = missing ? 'API_KEY_MISSING' : 'API_KEY_INVALID';
  }
}

/** A Range request none of whose ranges lies within the audio (416). */
export class RangeNotSatisfiableError extends ServerError {
  readonly code = 'RANGE_NOT_SATISFIABLE';

  constructor(readonly completeLength: number) {
    super(`the requested range is not satisfiable: the audio is ${completeLength} bytes long`);
  }
}

/** Which of a client's two budgets ran out (see common/guards/rate-limit.ts). */
export type RateLimitName = 'general' | 'synthesis';

const RATE_LIMIT_SETTING: Readonly<Record<RateLimitName, string>> = {
  general: 'RATE_LIMIT_REQUESTS',
  synthesis: 'TTS_RATE_LIMIT_REQUESTS',
};

/** A client spent one of its budgets for this window (429, Retry-After). */
export class RateLimitedError extends ServerError {
  readonly code = 'RATE_LIMITED';

  constructor(
    readonly limitName: RateLimitName,
    readonly limit: number,
    readonly windowSeconds: number,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `too many requests: the ${limitName} limit is ${limit} ${
        limitName === 'synthesis' ? 'syntheses' : 'requests'
      } per ${windowSeconds} s per client (${RATE_LIMIT_SETTING[limitName]}); ` +
        `it resets in ${retryAfterSeconds} s`,
    );
  }
}

/** A JSON body nested deeper or with more keys than any route accepts (400). */
export class BodyTooComplexError extends ServerError {
  readonly code = 'BODY_TOO_COMPLEX';

  constructor(
    readonly maxDepth: number,
    readonly maxKeys: number,
  ) {
    super(
      `the JSON body is too complex: at most ${maxDepth} levels of nesting and ${maxKeys} keys`,
    );
  }
}

/** The client did not send its whole request within REQUEST_TIMEOUT_MS / HEADERS_TIMEOUT_MS (408). */
export class RequestTimeoutError extends ServerError {
  readonly code = 'REQUEST_TIMEOUT';

  constructor(readonly timeoutMs: number) {
    super(`the request was not received within ${timeoutMs} ms`);
  }
}

/**
 * A body the JSON parser refused before any route saw it (http-errors from
 * body-parser, by its `type`): malformed, too large, an unknown charset or encoding, or
 * cut short.
 */
export class BodyRejectedError extends ServerError {
  readonly code:
    'BODY_MALFORMED' | 'BODY_TOO_LARGE' | 'BODY_ENCODING_UNSUPPORTED' | 'BODY_INCOMPLETE';

  constructor(code: BodyRejectedError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * What Node's HTTP parser refused before Express saw a request: a malformed request
 * line or header (400), headers over Node's size limit (431).
 */
export class HttpParseError extends ServerError {
  readonly code: 'HTTP_MALFORMED' | 'HEADERS_TOO_LARGE';

  constructor(headersTooLarge: boolean) {
    super(
      headersTooLarge
        ? 'the request headers are too large'
        : 'malformed HTTP request (request line or headers)',
    );
    this.code = headersTooLarge ? 'HEADERS_TOO_LARGE' : 'HTTP_MALFORMED';
  }
}

/** The body or query failed the route's validation; `messages` lists why, bounded (400). */
export class RequestValidationError extends ServerError {
  readonly code = 'VALIDATION_FAILED';

  constructor(readonly messages: string[]) {
    super(messages.join('; '));
  }
}
