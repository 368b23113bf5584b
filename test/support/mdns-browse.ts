/**
 * Home Assistant's side of Wyoming discovery, run by test/wyoming-zeroconf.e2e-spec.ts
 * inside the network namespace it creates (only `lo`, so no packet leaves it): browses
 * for `_wyoming._tcp` over mDNS with bonjour-service (an mDNS browser independent of the
 * server's @homebridge/ciao), asks the service found for `describe` at the address and
 * port it announced, then stops the server with SIGTERM and waits for its goodbye.
 *
 *   node -r ts-node/register/transpile-only test/support/mdns-browse.ts <server pid> <timeout ms>
 *
 * Prints one JSON line per step ({found}, {info}, {down}, or {timeout: step}); always
 * sends the server SIGTERM before it exits, so the namespace's processes end.
 */
import { Bonjour, type Service } from 'bonjour-service';
import { connect } from 'node:net';
import { isIP } from 'node:net';
import { encodeEvent, WyomingFrameParser } from '../../apps/tts-server/src/wyoming/wyoming-frames';

const serverPid = Number(process.argv[2]);
const timeoutMs = Number(process.argv[3] ?? 60_000);
const QUERY_INTERVAL_MS = 1000;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Resolves with `step`'s value, or undefined once the deadline passes (printed as a timeout). */
async function within<T>(step: string, deadline: number, work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
  const result = await Promise.race([work, late]);
  clearTimeout(timer);
  if (result === undefined && Date.now() >= deadline) print({ timeout: step });
  return result;
}

/** `describe` at host:port; resolves with the `info` event's data. */
function describe(host: string, port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    const parser = new WyomingFrameParser(
      16 * 1024 * 1024,
      (event) => {
        if (event.type !== 'info') return;
        socket.destroy();
        resolve(event.data);
      },
      reject,
    );
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('error', reject);
    socket.once('connect', () => socket.write(encodeEvent({ type: 'describe', data: {} })));
  });
}

async function main(): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const bonjour = new Bonjour();
  const browser = bonjour.find({ type: 'wyoming', protocol: 'tcp' });
  let serverGone: (() => void) | undefined;
  // The server may still be starting: ask again until it answers (as a browser does).
  const requery = setInterval(() => {
    if (!isRunning(serverPid)) serverGone?.();
    browser.update();
  }, QUERY_INTERVAL_MS);
  try {
    const found = await within(
      'found',
      deadline,
      new Promise<Service | undefined>((resolve) => {
        browser.once('up', resolve);
        serverGone = () => {
          print({ error: 'the server exited before it was found' });
          resolve(undefined);
        };
      }),
    );
    clearInterval(requery);
    if (!found) return;
    print({
      found: {
        name: found.name,
        type: found.type,
        protocol: found.protocol,
        port: found.port,
        addresses: found.addresses,
      },
    });
    const address = (found.addresses ?? []).find((candidate) => isIP(candidate) === 4);
    if (!address) return;
    const info = await within('info', deadline, describe(address, found.port));
    if (!info) return;
    print({ info });

    const down = new Promise<Service>((resolve) => browser.once('down', resolve));
    process.kill(serverPid, 'SIGTERM');
    const gone = await within('down', deadline, down);
    if (gone) print({ down: gone.name });
  } finally {
    clearInterval(requery);
    browser.stop();
    bonjour.destroy();
    try {
      process.kill(serverPid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    print({ error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);
