/**
 * @app/voice-catalogue: Piper's voice catalogue (voices.json, docs/PIPER.md §1),
 * cached on disk, and verified downloads of its voices into MODEL_DIR. No Nest, no
 * server: the CLI and the server both import it. This file is the library's only door.
 */
export * from './errors';
export {
  Catalogue,
  DEFAULT_CATALOGUE_MAX_AGE_MS,
  DEFAULT_VOICES_BASE_URL,
  VOICE_NAME_PATTERN,
  VoiceCatalogue,
  defaultCatalogueCacheDir,
  installedFiles,
  normalizeBaseUrl,
  parseCatalogue,
  type CatalogueFile,
  type CatalogueLanguage,
  type CatalogueSource,
  type CatalogueVoice,
  type VoiceCatalogueOptions,
} from './catalogue';
export { closeNames } from './close-names';
export {
  downloadVoice,
  isVoiceInstalled,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  type DownloadRetry,
} from './download';
export { listInstalledVoices, type InstalledVoice } from './installed';
export { DEFAULT_RETRY_POLICY, backoffDelayMs, type RetryPolicy } from './retry';
