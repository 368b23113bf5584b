/**
 * Tests that need what a machine may lack (ffmpeg, Chromium, redis-server, the built
 * server, ../shared) are chosen at load time: where the thing is missing they are
 * skipped with the reason in their name, so a run counts them as skipped and says why,
 * instead of passing without asserting anything.
 */

type TestFn = (name: string, fn: jest.ProvidesCallback, timeoutMs?: number) => void;
type DescribeFn = (name: string, fn: () => void) => void;

/** `it`, or where `missing` names what is missing, `it.skip` saying so. */
export function itUnless(missing: string | undefined): TestFn {
  if (missing === undefined) return it;
  return (name, fn, timeoutMs) => it.skip(`${name} (skipped: ${missing})`, fn, timeoutMs);
}

/** `describe`, or where `missing` names what is missing, `describe.skip` saying so. */
export function describeUnless(missing: string | undefined): DescribeFn {
  if (missing === undefined) return describe;
  return (name, fn) => describe.skip(`${name} (skipped: ${missing})`, fn);
}
