/**
 * What can be wrong with a document. Like the engine's errors they know nothing of
 * HTTP: the server maps each code to a status in one place (common/http-errors.ts).
 */
import { DomainError } from '@app/errors';

/** Where in the markup: 1-based line and column, as an editor shows them. */
export interface SsmlPosition {
  line: number;
  column: number;
}

/** Not well-formed XML, or SSML this server refuses (DOCTYPE, entities, bad attribute): 400. */
export class SsmlSyntaxError extends DomainError {
  readonly code = 'SSML_INVALID';

  constructor(
    readonly detail: string,
    readonly position: SsmlPosition,
  ) {
    super(`invalid SSML at line ${position.line}, column ${position.column}: ${detail}`);
  }
}

/** Elements this server cannot speak (`<audio>`, unknown ones) in strict mode: 400. */
export class SsmlUnsupportedError extends DomainError {
  readonly code = 'SSML_UNSUPPORTED';

  constructor(readonly elements: readonly string[]) {
    super(
      `unsupported SSML element(s): ${elements.map((name) => `<${name}>`).join(', ')}; send "ssml_strict": false to speak their content instead`,
    );
  }
}

/** Markup beyond its bound, or more elements or deeper nesting than allowed: 413. */
export class SsmlTooLargeError extends DomainError {
  readonly code = 'SSML_TOO_LARGE';

  constructor(detail: string) {
    super(`SSML document too large: ${detail}`);
  }
}
