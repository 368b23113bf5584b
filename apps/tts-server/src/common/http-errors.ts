/**
 * Server-side domain errors that are not the engine's, and the one table that maps
 * every domain error code to an HTTP status.
 */
import { HttpStatus } from '@nestjs/common';
import { PiperError } from '@app/piper';

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

/** HTTP status for each domain error code; unknown codes are server errors. */
export const STATUS_BY_ERROR_CODE: Readonly<Record<string, HttpStatus>> = {
  TEXT_EMPTY: HttpStatus.BAD_REQUEST,
  TEXT_TOO_LONG: HttpStatus.BAD_REQUEST,
  FORMAT_NOT_AVAILABLE: HttpStatus.BAD_REQUEST,
  SYNTHESIS_OPTION_INVALID: HttpStatus.BAD_REQUEST,
  SPEAKER_NOT_FOUND: HttpStatus.NOT_FOUND,
  VOICE_NOT_FOUND: HttpStatus.NOT_FOUND,
  MODEL_CARD_NOT_FOUND: HttpStatus.NOT_FOUND,
  DEMO_NOT_FOUND: HttpStatus.NOT_FOUND,
  ENGINE_BUSY: HttpStatus.SERVICE_UNAVAILABLE,
  ENGINE_STOPPED: HttpStatus.SERVICE_UNAVAILABLE,
  SYNTHESIS_TIMEOUT: HttpStatus.GATEWAY_TIMEOUT,
  WORKER_CRASHED: HttpStatus.BAD_GATEWAY,
  VOICE_CONFIG_INVALID: HttpStatus.INTERNAL_SERVER_ERROR,
  VOICE_MODEL_INVALID: HttpStatus.INTERNAL_SERVER_ERROR,
  PHONEMIZER_FAILED: HttpStatus.INTERNAL_SERVER_ERROR,
  INFERENCE_FAILED: HttpStatus.INTERNAL_SERVER_ERROR,
};
