/**
 * Server-side domain errors that are not the engine's, and the one table that maps
 * every domain error code to an HTTP status.
 */
import { HttpException, HttpStatus } from '@nestjs/common';
import { PiperError } from '@app/piper';
import { VoiceCatalogueError } from '@app/voice-catalogue';

/** Text longer than MAX_TEXT_LENGTH (400). */
export class TextTooLongError extends PiperError {
  readonly code = 'TEXT_TOO_LONG';

  constructor(
    readonly length: number,
    readonly maxLength: number,
  ) {
    super(`text is ${length} characters long; the limit is ${maxLength}`);
  }
}

/** A synthesis route called without a valid API key while API_KEYS is set (401). */
export class ApiKeyError extends PiperError {
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
export class RangeNotSatisfiableError extends PiperError {
  readonly code = 'RANGE_NOT_SATISFIABLE';

  constructor(readonly completeLength: number) {
    super(`the requested range is not satisfiable: the audio is ${completeLength} bytes long`);
  }
}

/** HTTP status for each domain error code; unknown codes are server errors. */
export const STATUS_BY_ERROR_CODE: Readonly<Record<string, HttpStatus>> = {
  API_KEY_MISSING: HttpStatus.UNAUTHORIZED,
  API_KEY_INVALID: HttpStatus.UNAUTHORIZED,
  ADMIN_DISABLED: HttpStatus.FORBIDDEN,
  VOICE_IS_DEFAULT: HttpStatus.CONFLICT,
  // The voice catalogue (admin downloads): the remote side's failures are a bad gateway.
  VOICE_NOT_IN_CATALOGUE: HttpStatus.NOT_FOUND,
  CATALOGUE_INVALID: HttpStatus.BAD_GATEWAY,
  REMOTE_FILE_NOT_FOUND: HttpStatus.BAD_GATEWAY,
  HTTP_STATUS: HttpStatus.BAD_GATEWAY,
  SIZE_MISMATCH: HttpStatus.BAD_GATEWAY,
  CHECKSUM_MISMATCH: HttpStatus.BAD_GATEWAY,
  NETWORK_UNAVAILABLE: HttpStatus.BAD_GATEWAY,
  DISK_FULL: HttpStatus.INSUFFICIENT_STORAGE,
  TEXT_EMPTY: HttpStatus.BAD_REQUEST,
  TEXT_TOO_LONG: HttpStatus.BAD_REQUEST,
  // SSML (@app/ssml): bad markup and unsupported elements are the client's, too much is 413.
  SSML_INVALID: HttpStatus.BAD_REQUEST,
  SSML_UNSUPPORTED: HttpStatus.BAD_REQUEST,
  SSML_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  RANGE_NOT_SATISFIABLE: HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
  SYNTHESIS_OPTION_INVALID: HttpStatus.BAD_REQUEST,
  SPEAKER_NOT_FOUND: HttpStatus.NOT_FOUND,
  VOICE_NOT_FOUND: HttpStatus.NOT_FOUND,
  // Removed from MODEL_DIR between the request's arrival and its voice's load.
  VOICE_FILES_MISSING: HttpStatus.NOT_FOUND,
  MODEL_CARD_NOT_FOUND: HttpStatus.NOT_FOUND,
  ENGINE_BUSY: HttpStatus.SERVICE_UNAVAILABLE,
  RATE_LIMITER_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  ENGINE_STOPPED: HttpStatus.SERVICE_UNAVAILABLE,
  SYNTHESIS_TIMEOUT: HttpStatus.GATEWAY_TIMEOUT,
  WORKER_CRASHED: HttpStatus.BAD_GATEWAY,
  VOICE_CONFIG_INVALID: HttpStatus.INTERNAL_SERVER_ERROR,
  VOICE_MODEL_INVALID: HttpStatus.INTERNAL_SERVER_ERROR,
  PHONEMIZER_FAILED: HttpStatus.INTERNAL_SERVER_ERROR,
  INFERENCE_FAILED: HttpStatus.INTERNAL_SERVER_ERROR,
};

/** What every error becomes on the way out, whatever the response body's shape. */
export interface DescribedError {
  status: number;
  message: string | string[];
  code?: string;
  /**
   * Headers the status calls for: Retry-After (429, 503), WWW-Authenticate (401),
   * Content-Range (416).
   */
  headers: Record<string, string>;
}

/**
 * The one mapping from an error to HTTP: domain errors by their code, Nest's
 * HttpExceptions by their status, body-parser failures by theirs, anything else 500
 * with a generic message (its details belong in the log, not the response).
 */
export function describeError(exception: unknown): DescribedError {
  if (exception instanceof PiperError || exception instanceof VoiceCatalogueError) {
    const status = STATUS_BY_ERROR_CODE[exception.code] ?? HttpStatus.INTERNAL_SERVER_ERROR;
    const retryAfter = (exception as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    const headers: Record<string, string> = {};
    if (typeof retryAfter === 'number') headers['Retry-After'] = String(retryAfter);
    if (status === HttpStatus.UNAUTHORIZED) headers['WWW-Authenticate'] = 'Bearer';
    if (exception instanceof RangeNotSatisfiableError) {
      headers['Content-Range'] = `bytes */${exception.completeLength}`;
    }
    return { status, message: exception.message, code: exception.code, headers };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const payload = exception.getResponse();
    const message =
      typeof payload === 'object' && payload !== null && 'message' in payload
        ? (payload as { message: string | string[] }).message
        : exception.message;
    return { status, message, headers: {} };
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
    return { status: httpError.status, message, headers: {} };
  }
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    message: 'internal server error',
    headers: {},
  };
}
