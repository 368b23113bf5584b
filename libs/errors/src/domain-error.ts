/**
 * The one base of every domain error in the project: the engine's (`PiperError`), the
 * voice catalogue's (`VoiceCatalogueError`) and the server's. A domain error carries a
 * stable machine-readable `code` and a one-line message a user can act on, and knows
 * nothing of HTTP or of the command line: the server maps codes to statuses in one
 * table, the CLI prints the message. No Nest, no dependency: every library imports it.
 */
export abstract class DomainError extends Error {
  /** Stable machine-readable code, e.g. "VOICE_NOT_FOUND". */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
