import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const REQUEST_ID_HEADER = 'x-request-id';
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export type RequestWithId = Request & { requestId?: string };

/**
 * Gives every request an id (the caller's X-Request-Id when it is safe to echo, else a
 * new UUID), echoed in the response header and in every error envelope, so a client's
 * report can be matched to the server log.
 */
export function requestIdMiddleware(
  request: RequestWithId,
  response: Response,
  next: NextFunction,
): void {
  const given = request.header(REQUEST_ID_HEADER);
  const requestId = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
  request.requestId = requestId;
  response.setHeader('X-Request-Id', requestId);
  next();
}
