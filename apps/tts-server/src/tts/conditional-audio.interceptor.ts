/**
 * HTTP caching and seeking for complete audio (RFC 9110 §8.8.3, §13, §14): a strong
 * ETag (the SHA-256 of the body) on every complete audio response; on GET and HEAD
 * also `Accept-Ranges: bytes`, `If-None-Match` answered 304, and a single byte `Range`
 * answered 206 with its `Content-Range` (what an <audio> element sends to seek). An
 * unsatisfiable range is a 416 through the error filter. Several ranges, a malformed
 * or invalid Range (`bytes=100-50`), or an `If-Range` naming another version get the
 * whole file, as the RFC allows. Audio streamed as it is synthesized has no ETag: its bytes are not known yet.
 *
 * Ranges are parsed by Express's `req.range()` (`range-parser`, the code behind
 * `res.sendFile`). If-None-Match is compared here rather than with `req.fresh`: that
 * (the `fresh` package) answers 200 to any request with `Cache-Control: no-cache`, a
 * rule for caches, not for the origin (RFC 9110 §13.2.1 evaluates the condition
 * regardless), and fetch() adds that header to every conditional request it is given.
 */
import {
  CallHandler,
  ExecutionContext,
  HttpStatus,
  Injectable,
  NestInterceptor,
  StreamableFile,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { map, type Observable } from 'rxjs';
import { RangeNotSatisfiableError } from '../common/server-errors';
import { CachedAudioResponse } from './cached-audio-response';

@Injectable()
export class ConditionalAudioInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((result: unknown) => {
        if (!(result instanceof CachedAudioResponse) || !result.whole) return result;
        const http = context.switchToHttp();
        const request = http.getRequest<Request>();
        const response = http.getResponse<Response>();
        const { body, contentHash } = result.whole;
        const etag = `"${contentHash}"`;
        response.setHeader('ETag', etag);
        if (request.method !== 'GET' && request.method !== 'HEAD') return result;

        response.setHeader('Accept-Ranges', 'bytes');
        const ifNoneMatch = request.headers['if-none-match'];
        if (ifNoneMatch !== undefined && matchesAny(ifNoneMatch, etag)) {
          response.status(HttpStatus.NOT_MODIFIED);
          return undefined;
        }
        const range = requestedRange(request, etag, body.length);
        if (!range) return result;
        response.status(HttpStatus.PARTIAL_CONTENT);
        response.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${body.length}`);
        const { type, disposition } = result.file.getHeaders();
        const part = body.subarray(range.start, range.end + 1);
        return result.withFile(
          new StreamableFile(part, { type, disposition, length: part.length }),
        );
      }),
    );
  }
}

/**
 * If-None-Match's weak comparison (RFC 9110 §13.1.2): `*`, or any listed entity tag
 * equal to ours once a `W/` prefix is ignored. Tags are matched as quoted strings, as
 * an entity tag may itself contain a comma.
 */
function matchesAny(ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  const tags = ifNoneMatch.match(/(?:W\/)?"[^"]*"/g) ?? [];
  return tags.some((tag) => tag.replace(/^W\//, '') === etag);
}

/** The one byte range to answer (inclusive), or undefined for the whole file. */
function requestedRange(
  request: Request,
  etag: string,
  size: number,
): { start: number; end: number } | undefined {
  const header = request.headers.range;
  if (header === undefined || !isValidByteRanges(header)) return undefined;
  const ifRange = request.headers['if-range'];
  if (ifRange !== undefined && ifRange !== etag) return undefined;
  const ranges = request.range(size, { combine: true });
  if (ranges === -1) throw new RangeNotSatisfiableError(size);
  if (ranges === undefined || ranges === -2) return undefined;
  if (ranges.type !== 'bytes' || ranges.length !== 1) return undefined;
  return ranges[0];
}

/**
 * Whether a Range header is well-formed bytes ranges (RFC 9110 §14.1.2): each
 * `first-last` with last ≥ first, `first-`, or `-suffix`. range-parser calls
 * `bytes=100-50` unsatisfiable (416); the RFC makes it invalid, and a Range header with
 * an invalid range is ignored: the whole file, 200.
 */
function isValidByteRanges(header: string): boolean {
  const match = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!match) return true; // another unit: range-parser says so, and it is ignored
  return match[1].split(',').every((spec) => {
    const range = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(spec);
    if (!range || (range[1] === '' && range[2] === '')) return false;
    return range[1] === '' || range[2] === '' || Number(range[2]) >= Number(range[1]);
  });
}
