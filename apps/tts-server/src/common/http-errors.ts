/**
 * The one table that maps every domain error code to an HTTP status, and the one
 * mapping from any error to what the client is told.
 *
 * `ErrorCode` is read off the error classes themselves (every exported class of the
 * modules below whose `code` is a literal), so an error class with a new code and no
 * status here fails to compile, and so does a status for a code no class has.
 */
import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { DomainError } from '@app/errors';
import { RangeNotSatisfiableError, RequestValidationError } from './server-errors';

/** The literal codes of the domain error classes a module exports. */
type CodesOf<Module> = {
  [Name in keyof Module]: Module[Name] extends abstract new (...args: never[]) => infer Instance
    ? Instance extends DomainError
      ? // Abstract bases and carriers of another error's code (code: string) add none.
        string extends Instance['code']
        ? never
        : Instance['code']
      : never
    : never;
}[keyof Module];

/** Every code a domain error can have. */
export type ErrorCode =
  | CodesOf<typeof import('@app/piper')>
  | CodesOf<typeof import('@app/voice-catalogue')>
  | CodesOf<typeof import('@app/ssml')>
  | CodesOf<typeof import('./server-errors')>
  | CodesOf<typeof import('../engine/engine.errors')>
  | CodesOf<typeof import('../models/voice-not-found.error')>
  | CodesOf<typeof import('../admin/admin-key.guard')>
  | CodesOf<typeof import('../admin/voices-admin.service')>
  | CodesOf<typeof import('../redis/fail-open-throttler-storage')>
  // Reported by a worker whose voice's files vanished (no class of its own).
  | typeof import('../engine/worker-protocol').VOICE_FILES_MISSING_CODE;

/** HTTP status for each domain error code. */
export const STATUS_BY_ERROR_CODE: Readonly<Record<ErrorCode, HttpStatus>> = {
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
  // The request itself, refused before any synthesis.
  BODY_MALFORMED: HttpStatus.BAD_REQUEST,
  BODY_INCOMPLETE: HttpStatus.BAD_REQUEST,
  BODY_TOO_COMPLEX: HttpStatus.BAD_REQUEST,
  BODY_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  BODY_ENCODING_UNSUPPORTED: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
  REQUEST_TIMEOUT: HttpStatus.REQUEST_TIMEOUT,
  HTTP_MALFORMED: HttpStatus.BAD_REQUEST,
  // 431 Request Header Fields Too Large (RFC 6585), which HttpStatus does not name.
  HEADERS_TOO_LARGE: 431 as HttpStatus,
  VALIDATION_FAILED: HttpStatus.BAD_REQUEST,
  RATE_LIMITED: HttpStatus.TOO_MANY_REQUESTS,
  TEXT_EMPTY: HttpStatus.BAD_REQUEST,
  TEXT_TOO_LONG: HttpStatus.BAD_REQUEST,
  // SSML (@app/ssml): bad markup and unsupported elements are the client's, too much is 413.
  SSML_INVALID: HttpStatus.BAD_REQUEST,
  SSML_UNSUPPORTED: HttpStatus.BAD_REQUEST,
  SSML_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  RANGE_NOT_SATISFIABLE: HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
  SYNTHESIS_OPTION_INVALID: HttpStatus.BAD_REQUEST,
  TIMESTAMPS_REQUEST_INVALID: HttpStatus.BAD_REQUEST,
  // The voice exists, but its network gives no durations to time anything with.
  ALIGNMENTS_UNAVAILABLE: HttpStatus.UNPROCESSABLE_ENTITY,
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

/**
 * The status of a code. A code no class declares (one a worker reported, carried as a
 * string) is a server error; own-property lookup, so no code reaches Object.prototype.
 */
export function statusOfCode(code: string): HttpStatus {
  return Object.hasOwn(STATUS_BY_ERROR_CODE, code)
    ? STATUS_BY_ERROR_CODE[code as ErrorCode]
    : HttpStatus.INTERNAL_SERVER_ERROR;
}

/** What every error becomes on the way out, whatever the response body's shape. */
export interface DescribedError {
  status: number;
  message: string | string[];
  /** Stable machine-readable code; every 4xx and 5xx has one. */
  code: string;
  /**
   * Headers the status calls for: Retry-After (429, 503), WWW-Authenticate (401),
   * Content-Range (416).
   */
  headers: Record<string, string>;
  /** An error of ours (domain or HTTP), as opposed to a bug whose stack belongs in the log. */
  expected: boolean;
}

/**
 * The one mapping from an error to HTTP: domain errors by their code (body-parser's
 * failures arrive as BodyRejectedError, see json-body.ts), Nest's HttpExceptions by their status,
 * anything else 500 with a generic message (its details belong in the log, not the
 * response).
 */
export function describeError(exception: unknown): DescribedError {
  if (exception instanceof DomainError) {
    const error = exception;
    const status = statusOfCode(error.code);
    const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    const headers: Record<string, string> = {};
    if (typeof retryAfter === 'number') headers['Retry-After'] = String(retryAfter);
    if (status === HttpStatus.UNAUTHORIZED) headers['WWW-Authenticate'] = 'Bearer';
    if (error instanceof RangeNotSatisfiableError) {
      headers['Content-Range'] = `bytes */${error.completeLength}`;
    }
    const message = error instanceof RequestValidationError ? error.messages : error.message;
    return { status, message, code: error.code, headers, expected: true };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const payload = exception.getResponse();
    const message =
      typeof payload === 'object' && payload !== null && 'message' in payload
        ? (payload as { message: string | string[] }).message
        : exception.message;
    return { status, message, code: codeOfStatus(status), headers: {}, expected: true };
  }
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    message: 'internal server error',
    code: 'INTERNAL_ERROR',
    headers: {},
    expected: false,
  };
}

/** "Not Found" → NOT_FOUND: the code of an HTTP error that no domain error describes. */
function codeOfStatus(status: number): string {
  return (STATUS_CODES[status] ?? 'Error').toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}
