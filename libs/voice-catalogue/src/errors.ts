/**
 * Errors of the voice catalogue and its downloads. Each message is one line a user can
 * act on (what failed, where, and what to check); none knows anything of HTTP status
 * mapping or of the command line.
 */
import { DomainError } from '@app/errors';

/** Base of the catalogue's errors (code, one-line message: see DomainError). */
export abstract class VoiceCatalogueError extends DomainError {}

/** The name is neither a voice nor an alias in voices.json. */
export class VoiceNotInCatalogueError extends VoiceCatalogueError {
  readonly code = 'VOICE_NOT_IN_CATALOGUE';

  constructor(
    readonly voiceName: string,
    readonly closeNames: readonly string[],
  ) {
    super(
      `voice "${voiceName}" is not in the catalogue` +
        (closeNames.length > 0
          ? `; close names: ${closeNames.join(', ')}`
          : '; `piper-server voices list --available` lists every voice'),
    );
  }
}

/** voices.json is not JSON, or an entry the caller needs is malformed. */
export class CatalogueInvalidError extends VoiceCatalogueError {
  readonly code = 'CATALOGUE_INVALID';

  constructor(
    readonly source: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid voice catalogue ${source}: ${detail}`, options);
  }
}

/** The server answered 404 (or 410) for a catalogue file: not retried. */
export class RemoteFileNotFoundError extends VoiceCatalogueError {
  readonly code = 'REMOTE_FILE_NOT_FOUND';

  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`not found (HTTP ${status}): ${url}; check VOICES_BASE_URL and the catalogue revision`);
  }
}

/** Any other HTTP status that is not a success (5xx only after every retry). */
export class HttpStatusError extends VoiceCatalogueError {
  readonly code = 'HTTP_STATUS';

  constructor(
    readonly url: string,
    readonly status: number,
    readonly attempts: number,
  ) {
    super(`HTTP ${status} from ${url}` + (attempts > 1 ? ` (after ${attempts} attempts)` : ''));
  }
}

/** The bytes received are not the number the catalogue lists: the file was discarded. */
export class SizeMismatchError extends VoiceCatalogueError {
  readonly code = 'SIZE_MISMATCH';

  constructor(
    readonly file: string,
    readonly expectedBytes: number,
    readonly actualBytes: number,
  ) {
    super(
      `size mismatch for ${file}: the catalogue lists ${expectedBytes} bytes, ` +
        `the server sent ${actualBytes}; nothing was installed`,
    );
  }
}

/** The md5 of the bytes received is not the catalogue's: the file was discarded. */
export class ChecksumMismatchError extends VoiceCatalogueError {
  readonly code = 'CHECKSUM_MISMATCH';

  constructor(
    readonly file: string,
    readonly expectedMd5: string,
    readonly actualMd5: string,
  ) {
    super(
      `checksum mismatch for ${file}: md5 ${actualMd5}, the catalogue lists ${expectedMd5}; ` +
        'nothing was installed',
    );
  }
}

/** ENOSPC while writing, or too little free space to start. */
export class DiskFullError extends VoiceCatalogueError {
  readonly code = 'DISK_FULL';

  constructor(
    readonly dir: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`disk full: ${detail} in ${dir}; free some space and retry`, options);
  }
}

/** The server could not be reached (refused, reset, DNS, timeout) even after retries. */
export class NetworkError extends VoiceCatalogueError {
  readonly code = 'NETWORK_UNAVAILABLE';

  constructor(
    readonly url: string,
    readonly reason: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(
      `no network: cannot download ${url} (${reason}` +
        (attempts > 1 ? `, ${attempts} attempts` : '') +
        '); check the connection or VOICES_BASE_URL',
      options,
    );
  }
}
