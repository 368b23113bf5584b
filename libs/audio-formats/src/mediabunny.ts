import { dirname, join } from 'node:path';
import type * as Mediabunny from 'mediabunny';
import { requireNative, resolveNative } from './native-esm';

export type { Mediabunny };

interface EncoderExtension {
  registerFlacEncoder?: () => void;
  registerAacEncoder?: () => void;
}

let loaded: typeof Mediabunny | undefined;

/**
 * Mediabunny (MPL-2.0) writes the containers: Ogg pages around Opus packets, FLAC
 * frames, AAC in ADTS. Its FLAC and AAC encoder extensions (libFLAC and FFmpeg's AAC
 * encoder in WebAssembly, each on a worker thread of its own) register themselves
 * with the ES module build of mediabunny, so this loads that build too, not the
 * CommonJS one Node's `require('mediabunny')` would pick: both must be one instance.
 */
export function mediabunny(): typeof Mediabunny {
  if (loaded) return loaded;
  const esmEntry = join(dirname(resolveNative('mediabunny')), '../modules/src/index.js');
  const library = requireNative<typeof Mediabunny>(esmEntry);
  requireNative<EncoderExtension>('@mediabunny/flac-encoder').registerFlacEncoder?.();
  requireNative<EncoderExtension>('@mediabunny/aac-encoder').registerAacEncoder?.();
  loaded = library;
  return library;
}
