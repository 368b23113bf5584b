/**
 * Wyoming clients for the e2e specs and the benchmark: the real Python client library
 * (wyoming 1.9.0, in ../shared/peer-fixtures/wyoming) driven by wyoming_client.py, and
 * a raw socket for the bytes no well-behaved client sends.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { WyomingServerService } from '../../apps/tts-server/src/wyoming/wyoming-server.service';
import {
  WyomingFrameParser,
  type WyomingEvent,
} from '../../apps/tts-server/src/wyoming/wyoming-frames';

/** The reference client library, beside the repository (skip where it is absent). */
export const WYOMING_LIBRARY = join(__dirname, '../../../shared/peer-fixtures/wyoming');
const CLIENT_SCRIPT = join(__dirname, 'wyoming_client.py');

export function wyomingLibraryAvailable(): boolean {
  return existsSync(join(WYOMING_LIBRARY, 'wyoming', 'event.py'));
}

export type ClientStep =
  | { op: 'describe' }
  | { op: 'ping'; text?: string }
  | { op: 'synthesize'; text: string; voice?: Record<string, string>; text_format?: 'ssml' }
  | {
      op: 'stream';
      chunks: string[];
      voice?: Record<string, string>;
      text_format?: 'ssml';
      audio_before_stop?: boolean;
      timeout_s?: number;
    };

/** One line wyoming_client.py printed: an event received, or a marker. */
export interface ClientLine {
  step: number;
  type?: string;
  data?: Record<string, unknown>;
  /** An audio-chunk's payload, base64. */
  audio?: string;
  marker?: string;
  closed?: boolean;
  timeout?: boolean;
}

/**
 * Runs `steps` on one connection with the Python client; resolves to every line it
 * printed. `onLine` sees each line as it arrives (e.g. to act on the first audio-chunk).
 */
export function runWyomingClient(
  port: number,
  steps: ClientStep[],
  onLine?: (line: ClientLine) => void,
): Promise<ClientLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [CLIENT_SCRIPT, '127.0.0.1', String(port)], {
      env: { PATH: process.env.PATH, PYTHONPATH: WYOMING_LIBRARY },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines: ClientLine[] = [];
    let partial = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const complete = partial.split('\n');
      partial = complete.pop() ?? '';
      for (const text of complete.filter(Boolean)) {
        const line = JSON.parse(text) as ClientLine;
        lines.push(line);
        onLine?.(line);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(lines);
      else reject(new Error(`wyoming_client.py exited with ${code}: ${stderr}`));
    });
    child.stdin.end(JSON.stringify(steps));
  });
}

/** The audio-chunk payloads of `lines` (of one step, or all), concatenated. */
export function audioOf(lines: ClientLine[], step?: number): Buffer {
  return Buffer.concat(
    lines
      .filter((line) => line.type === 'audio-chunk' && (step === undefined || line.step === step))
      .map((line) => Buffer.from(line.audio ?? '', 'base64')),
  );
}

/** Makes the app's Wyoming server listen on a free loopback port; resolves to the port. */
export function listenWyoming(app: NestExpressApplication): Promise<number> {
  return app.get(WyomingServerService).listen(0, '127.0.0.1');
}

/** What the server answered raw bytes with: the events it sent, and whether it closed. */
export interface RawAnswer {
  events: WyomingEvent[];
  closed: boolean;
}

/**
 * Sends `bytes` on a fresh connection and collects what comes back until the server
 * closes, `untilEvents` events have arrived, or `waitMs` passes.
 */
export function rawExchange(
  port: number,
  bytes: Buffer,
  { untilEvents = 1, waitMs = 5000 }: { untilEvents?: number; waitMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const events: WyomingEvent[] = [];
    const socket = connect(port, '127.0.0.1');
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ events, closed });
    };
    const parser = new WyomingFrameParser(
      64 * 1024 * 1024,
      (event) => {
        events.push(event);
        if (events.length >= untilEvents) finish(false);
      },
      () => finish(false),
    );
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(bytes);
  });
}
