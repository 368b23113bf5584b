/**
 * JSON request bodies: parsed by body-parser with a limit that fits what the routes
 * accept, then bounded in shape before anything walks them.
 *
 * Size: a text of MAX_TEXT_LENGTH characters takes at most 12 bytes of JSON a
 * character (an astral code point escaped as a surrogate pair, `\ud83d\ude00`, as
 * Python's json.dumps writes it by default), and every other field of the largest body
 * (OpenAI's `instructions`, 4,096 characters, plus names and numbers) fits in 64 KiB:
 * 70 KiB at the default 500 characters instead of 1 MiB. An SSML document may hold
 * MAX_SSML_LENGTH characters of markup besides its spoken text: tags are ASCII, at most
 * 2 bytes a character in JSON (an escaped quote), so they add 2 bytes a character of
 * MAX_SSML_LENGTH (20 KB at its default). MAX_BODY_BYTES stays the ceiling.
 *
 * Shape: body-parser has no depth or key-count option, and a JSON.parse reviver runs
 * only once the whole document is parsed and cannot tell how deep it is, so the parsed
 * value is walked once here, with an explicit stack (no recursion to overflow), and
 * refused at the first level or key past the bounds. No route takes more than one level
 * of a dozen keys; without this, Nest's validation pipe recurses over every level
 * (1,500 of them overflow the stack: a 500) and lists every unknown key one by one.
 * The walk is linear in the body, which the size limit bounds.
 *
 * Registered as module middleware (after the request logger, so a refused body is
 * logged with its request id like any other request), its errors reach the global
 * exception filter.
 */
import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { json } from 'body-parser';
import type { NextFunction, Request, Response } from 'express';
import { Settings } from '../config/settings';
import { BodyRejectedError, BodyTooComplexError } from './server-errors';

/** Worst-case bytes of JSON for one character of text (an escaped surrogate pair). */
export const JSON_BYTES_PER_CHARACTER = 12;
/** Worst-case bytes of JSON for one character of SSML markup (an escaped quote). */
export const JSON_BYTES_PER_MARKUP_CHARACTER = 2;
/** Room for every field of a body but its text. */
export const JSON_OTHER_FIELDS_BYTES = 64 * 1024;
/** Nesting a JSON body may have (every route takes a flat object: 1). */
export const JSON_MAX_DEPTH = 8;
/** Object keys and array items a JSON body may have, all levels together. */
export const JSON_MAX_KEYS = 100;

/** The JSON body limit for these settings, in bytes. */
export function jsonBodyLimitBytes(settings: Settings): number {
  return Math.min(
    settings.MAX_BODY_BYTES,
    settings.MAX_TEXT_LENGTH * JSON_BYTES_PER_CHARACTER +
      settings.MAX_SSML_LENGTH * JSON_BYTES_PER_MARKUP_CHARACTER +
      JSON_OTHER_FIELDS_BYTES,
  );
}

/** Whether `value` nests deeper than `maxDepth` or holds more than `maxKeys` keys and items. */
export function isTooComplex(value: unknown, maxDepth: number, maxKeys: number): boolean {
  const pending: { node: unknown; depth: number }[] = [{ node: value, depth: 1 }];
  let keys = 0;
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { node, depth } = next;
    if (node === null || typeof node !== 'object') continue;
    if (depth > maxDepth) return true;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    keys += children.length;
    if (keys > maxKeys) return true;
    for (const child of children) {
      if (child !== null && typeof child === 'object')
        pending.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

/**
 * Whether raw JSON text nests deeper than `maxDepth` or separates more than `maxKeys`
 * keys and items, read before JSON.parse builds anything: a body of thousands of keys
 * is refused after its first few hundred bytes instead of costing a large object (about
 * a millisecond of the event loop for 45 KB of keys, which a flood multiplies). Commas
 * outside strings undercount keys and items (one fewer per container), so this refuses
 * nothing that `isTooComplex`, the exact check after parsing, would let through.
 */
export function exceedsShapeBounds(json: Uint8Array, maxDepth: number, maxKeys: number): boolean {
  let depth = 0;
  let separators = 0;
  let inString = false;
  for (let index = 0; index < json.length; index++) {
    const byte = json[index];
    if (inString) {
      if (byte === BACKSLASH) index += 1;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    if (byte === QUOTE) inString = true;
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth -= 1;
    else if (byte === COMMA && ++separators >= maxKeys) return true;
  }
  return false;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * body-parser's errors (http-errors with a `type`) as domain errors, at the edge where
 * they happen: Nest would otherwise turn its SyntaxError into a bare BadRequestException
 * and lose which failure it was.
 */
export function bodyParserError(error: unknown): unknown {
  const failure = error as { type?: unknown; limit?: unknown; message?: unknown };
  switch (failure?.type) {
    case 'entity.verify.failed':
      // The shape look-ahead (exceedsShapeBounds) refused it before parsing.
      return new BodyTooComplexError(JSON_MAX_DEPTH, JSON_MAX_KEYS);
    case 'entity.parse.failed':
      return new BodyRejectedError(
        'BODY_MALFORMED',
        `malformed JSON in request body: ${String(failure.message)}`,
      );
    case 'entity.too.large':
      return new BodyRejectedError(
        'BODY_TOO_LARGE',
        `request body is too large: the limit is ${String(failure.limit)} bytes`,
      );
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new BodyRejectedError(
        'BODY_ENCODING_UNSUPPORTED',
        'unsupported charset or content encoding: send UTF-8 JSON, optionally gzip or deflate',
      );
    case 'request.aborted':
    case 'request.size.invalid':
      return new BodyRejectedError(
        'BODY_INCOMPLETE',
        'the request body ended before its Content-Length',
      );
    default:
      return error;
  }
}

/** body-parser's JSON parser, its failures as domain errors. */
function parseJson(limitBytes: number) {
  const parser = json({
    limit: limitBytes,
    verify: (_request, _response, body) => {
      if (exceedsShapeBounds(body, JSON_MAX_DEPTH, JSON_MAX_KEYS)) {
        throw new BodyTooComplexError(JSON_MAX_DEPTH, JSON_MAX_KEYS);
      }
    },
  });
  return (request: Request, response: Response, next: NextFunction): void => {
    parser(request, response, (error?: unknown) => {
      if (error === undefined || error === null) next();
      else next(bodyParserError(error));
    });
  };
}

function refuseComplexBodies(request: Request, _response: Response, next: NextFunction): void {
  const body: unknown = request.body;
  if (isTooComplex(body, JSON_MAX_DEPTH, JSON_MAX_KEYS)) {
    next(new BodyTooComplexError(JSON_MAX_DEPTH, JSON_MAX_KEYS));
    return;
  }
  next();
}

@Module({})
export class JsonBodyModule implements NestModule {
  constructor(private readonly settings: Settings) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(parseJson(jsonBodyLimitBytes(this.settings)), refuseComplexBodies)
      .forRoutes({ path: '*path', method: RequestMethod.ALL });
  }
}
