import { VoiceCatalogue, defaultCatalogueCacheDir } from '@app/voice-catalogue';
import { Settings } from '../config/settings';

/**
 * Piper's voice catalogue as this server reads it: from VOICES_BASE_URL, cached beside
 * the voices (MODEL_DIR/.catalogue). One instance, shared by the default voice's
 * installer and the admin routes, so both see one cached copy.
 */
export const voiceCatalogueProvider = {
  provide: VoiceCatalogue,
  inject: [Settings],
  useFactory: (settings: Settings): VoiceCatalogue =>
    new VoiceCatalogue({
      baseUrl: settings.VOICES_BASE_URL,
      cacheDir: defaultCatalogueCacheDir(settings.modelDir),
    }),
};
