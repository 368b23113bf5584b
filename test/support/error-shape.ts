/**
 * The one shape every error answer has: on the server's routes the envelope
 * {statusCode, error, message, requestId, code} with requestId = X-Request-Id, on
 * /v1/* OpenAI's {"error": {message, type, code, param}}; never a stack trace.
 */
import { STACK_FRAME } from './processes';

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Why `answer` is not an error in the shape of `path`'s routes, or undefined when it is. */
export function errorShapeProblem(answer: ErrorAnswer, path: string): string | undefined {
  if (STACK_FRAME.test(answer.text)) return 'a stack trace in the body';
  if (!/^application\/json/.test(String(answer.headers['content-type']))) {
    return `content-type ${String(answer.headers['content-type'])}`;
  }
  const requestId = answer.headers['x-request-id'];
  if (typeof requestId !== 'string' || requestId === '') return 'no X-Request-Id';
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return 'a body that is not JSON';
  }
  if (path.startsWith('/v1/')) {
    const error = (body as { error?: Record<string, unknown> }).error;
    if (typeof error?.message !== 'string' || error.message === '') return 'no error.message';
    if (typeof error.code !== 'string' || !/^[a-z0-9_]+$/.test(error.code)) return 'no error.code';
    if (typeof error.type !== 'string') return 'no error.type';
    return undefined;
  }
  const envelope = body as Record<string, unknown>;
  if (envelope.statusCode !== answer.status) return `statusCode ${String(envelope.statusCode)}`;
  if (typeof envelope.error !== 'string') return 'no error';
  if (typeof envelope.code !== 'string' || !/^[A-Z0-9_]+$/.test(envelope.code)) return 'no code';
  const message = [envelope.message].flat();
  if (message.length === 0 || message.some((line) => typeof line !== 'string' || line === '')) {
    return 'no message';
  }
  if (envelope.requestId !== requestId) return `requestId ${String(envelope.requestId)}`;
  return undefined;
}

/** Asserts `answer` is an error in the shape of `path`'s routes. */
export function expectErrorShape(answer: ErrorAnswer, path: string): void {
  expect(errorShapeProblem(answer, path)).toBeUndefined();
}
