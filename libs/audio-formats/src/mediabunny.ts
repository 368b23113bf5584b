import { dirname, join } from 'node:path';
import type * as Mediabunny from 'mediabunny';
import { requireNative, resolveNative } from './native-esm';

export type { Mediabunny };

interface AacEncoderExtension {
  registerAacEncoder(): void;
}

let loaded: typeof Mediabunny | undefined;

/**
 * Mediabunny (MPL-2.0) writes Ogg pages around Opus packets and AAC in ADTS. Its AAC
 * encoder extension (FFmpeg's AAC encoder in WebAssembly, on a worker thread of its
 * own) registers itself with the ES module build of mediabunny, so this loads that
 * build too, not the CommonJS one Node's `require('mediabunny')` would pick: both must
 * be one instance.
 */
export function mediabunny(): typeof Mediabunny {
  if (loaded) return loaded;
  const esmEntry = join(dirname(resolveNative('mediabunny')), '../modules/src/index.js');
  const library = requireNative<typeof Mediabunny>(esmEntry);
  requireNative<AacEncoderExtension>('@mediabunny/aac-encoder').registerAacEncoder();
  loaded = library;
  return library;
}
