import { toDiskError } from './download';
import { DiskFullError } from './errors';
import {
  TransientFailure,
  backoffDelayMs,
  classifyNetworkError,
  isTransientStatus,
  withRetry,
} from './retry';

describe('retry policy', () => {
  it('doubles the delay each retry, with jitter in [0.5, 1), up to the cap', () => {
    const policy = { baseDelayMs: 1000, maxDelayMs: 5000 };
    expect([1, 2, 3, 4].map((retry) => backoffDelayMs(retry, policy, () => 0.999999))).toEqual([
      1000, 2000, 4000, 5000,
    ]);
    expect(backoffDelayMs(2, policy, () => 0)).toBe(1000);
  });

  it('retries 408, 429 and 5xx, not 404 or other 4xx', () => {
    expect([408, 429, 500, 502, 503, 504].every(isTransientStatus)).toBe(true);
    expect([400, 401, 403, 404, 410, 416].some(isTransientStatus)).toBe(false);
  });

  it('classifies refused, reset and cut-short connections as transient, nothing else', () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
        code: 'ECONNREFUSED',
      }),
    });
    expect(classifyNetworkError(refused, false)).toMatchObject({ reason: 'ECONNREFUSED' });
    const terminated = new TypeError('terminated', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    expect(classifyNetworkError(terminated, false)).toBeInstanceOf(TransientFailure);
    expect(classifyNetworkError(new Error('aborted'), true)).toMatchObject({
      reason: 'stalled, no data received',
    });
    const bug = new RangeError('bug');
    expect(classifyNetworkError(bug, false)).toBe(bug);
  });

  it('stops at the first non-transient error and after the last attempt', async () => {
    const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2, stallTimeoutMs: 1000 };
    let calls = 0;
    await expect(
      withRetry(policy, () => {
        calls++;
        return Promise.reject(new TransientFailure('ECONNRESET'));
      }),
    ).rejects.toThrow('ECONNRESET');
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      withRetry(policy, () => {
        calls++;
        return Promise.reject(new Error('final'));
      }),
    ).rejects.toThrow('final');
    expect(calls).toBe(1);
  });

  it('reports ENOSPC and EDQUOT as a full disk', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
    });
    const error = toDiskError(enospc, '/models/en_US-x-low');
    expect(error).toBeInstanceOf(DiskFullError);
    expect((error as Error).message).toBe(
      'disk full: no space left on device in /models/en_US-x-low; free some space and retry',
    );
    const eacces = Object.assign(new Error('EACCES'), { code: 'EACCES' });
    expect(toDiskError(eacces, '/models')).toBe(eacces);
  });
});
