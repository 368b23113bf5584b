/**
 * Domain errors of the engine. They know nothing of HTTP: the server maps them to
 * status codes in one place, the CLI prints their message on one line.
 */
import { DomainError } from '@app/errors';

/** Base of the engine's errors (code, one-line message: see DomainError). */
export abstract class PiperError extends DomainError {}

/** The voice's `.onnx.json` is missing, unreadable or violates the format (docs/PIPER.md §2). */
export class VoiceConfigError extends PiperError {
  readonly code = 'VOICE_CONFIG_INVALID';

  constructor(
    readonly file: string,
    readonly field: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}${field ? `: ${field}` : ''}: ${detail}`, options);
  }
}

/** The voice's `.onnx` network is missing, corrupt or does not have Piper's interface (§5). */
export class VoiceModelError extends PiperError {
  readonly code = 'VOICE_MODEL_INVALID';

  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${detail}`, options);
  }
}

/** A speaker index out of range or a name not in `speaker_id_map`. */
export class SpeakerNotFoundError extends PiperError {
  readonly code = 'SPEAKER_NOT_FOUND';

  constructor(
    readonly speaker: string | number,
    readonly voiceName: string,
    detail: string,
  ) {
    super(`speaker ${JSON.stringify(speaker)} not found in voice ${voiceName}: ${detail}`);
  }
}

/** Text that yields nothing to speak (empty, whitespace, only unmappable symbols). */
export class EmptyTextError extends PiperError {
  readonly code = 'TEXT_EMPTY';

  constructor(detail = 'text is empty or has nothing to speak') {
    super(detail);
  }
}

/** A synthesis parameter outside its valid range (scales, volume, silence). */
export class InvalidSynthesisOptionError extends PiperError {
  readonly code = 'SYNTHESIS_OPTION_INVALID';

  constructor(
    readonly option: string,
    detail: string,
  ) {
    super(`${option}: ${detail}`);
  }
}

/** The phonemizer cannot serve this voice (unknown espeak-ng voice, unknown phoneme_type). */
export class PhonemizerError extends PiperError {
  readonly code = 'PHONEMIZER_FAILED';
}

/** onnxruntime failed while running a loaded network. */
export class InferenceError extends PiperError {
  readonly code = 'INFERENCE_FAILED';
}
