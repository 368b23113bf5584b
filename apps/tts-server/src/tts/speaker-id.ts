import { SpeakerNotFoundError } from '@app/piper';
import { SINGLE_SPEAKER_ID, type VoiceEntry } from '../models/voice-registry.service';

/** How many speaker names an error lists before it cuts the list short. */
const LISTED_SPEAKER_NAMES = 20;

/**
 * The numeric speaker id for a request: an index ("0") or a name from the voice's
 * speaker_id_map; none asked for: `defaultSpeaker` (DEFAULT_SPEAKER) if the voice has
 * it, else the voice's own default. Resolved from the voice config, so the file name
 * and the cache key only ever contain a number.
 */
export function resolveSpeakerId(
  voice: VoiceEntry,
  requested: string | undefined,
  defaultSpeaker: string,
): number {
  const { numSpeakers, speakerIdMap, defaultSpeakerId } = voice.config;
  const lookup = (speaker: string): number | undefined => {
    // GET /voices lists a single-speaker voice's one speaker under this id.
    if (numSpeakers === 1 && speaker === SINGLE_SPEAKER_ID) return 0;
    if (/^\d{1,9}$/.test(speaker)) {
      const index = Number(speaker);
      return index < numSpeakers ? index : undefined;
    }
    return Object.hasOwn(speakerIdMap, speaker) ? speakerIdMap[speaker] : undefined;
  };
  if (requested === undefined || requested === '') {
    return lookup(defaultSpeaker) ?? defaultSpeakerId;
  }
  const id = lookup(requested);
  if (id === undefined) {
    const names = Object.keys(speakerIdMap);
    const listed =
      names.slice(0, LISTED_SPEAKER_NAMES).join(', ') +
      (names.length > LISTED_SPEAKER_NAMES ? ', …' : '');
    throw new SpeakerNotFoundError(
      requested,
      voice.name,
      `speakers are 0 to ${numSpeakers - 1}${names.length ? ` or one of: ${listed}` : ''}`,
    );
  }
  return id;
}
