/**
 * Domain errors of the models feature. Like the engine's they know nothing of HTTP: the
 * exception filter maps their code to 404 (common/http-errors.ts).
 */
import { ServerError } from '../common/server-errors';

/** Longest piece of a caller's voice name repeated in a message. */
const MAX_ECHOED_NAME_LENGTH = 100;

/** How a caller-supplied name appears in a message: quoted, escaped and bounded. */
function quoteName(name: string): string {
  const bounded =
    name.length > MAX_ECHOED_NAME_LENGTH ? `${name.slice(0, MAX_ECHOED_NAME_LENGTH)}…` : name;
  return JSON.stringify(bounded);
}

/** A request named a voice that is not in the registry. */
export class VoiceNotFoundError extends ServerError {
  readonly code = 'VOICE_NOT_FOUND';

  constructor(
    readonly voice: string,
    readonly installedVoices: readonly string[],
  ) {
    super(
      `voice ${quoteName(voice)} is not installed; installed voices: ${
        installedVoices.length > 0 ? installedVoices.join(', ') : '(none)'
      }`,
    );
  }
}

/** The voice exists but ships no model card (MODEL_CARD or *.md beside it). */
export class ModelCardNotFoundError extends ServerError {
  readonly code = 'MODEL_CARD_NOT_FOUND';

  constructor(readonly voice: string) {
    super(`voice ${quoteName(voice)} has no model card`);
  }
}
