/**
 * Tools for the fault and shutdown specs, which watch the server the way an operator
 * does: over a real loopback port, through process ids and exit codes.
 *
 * Every wait here is bounded twice, by a number of attempts and by a deadline, so a
 * server that never gets there fails the test with a message instead of hanging it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type request from 'supertest';

/** Where `npm run build` puts the server's entry point. */
export const BUILT_SERVER_MAIN = join(
  __dirname,
  '../../dist/apps/tts-server/apps/tts-server/src/main.js',
);

/** Why the specs of the built server cannot run, if they cannot (for describeUnless). */
export function builtServerMissing(): string | undefined {
  return existsSync(BUILT_SERVER_MAIN)
    ? undefined
    : `${BUILT_SERVER_MAIN} does not exist: run npm run build first`;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns something other than undefined/false and returns
 * that; throws naming `what` after `timeoutMs` (or as many attempts as fit in it).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 20_000, intervalMs = 50 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const attempts = Math.ceil(timeoutMs / intervalMs) + 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts && Date.now() <= deadline; attempt++) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}

/** Whether a process with this id exists (signal 0 only checks; it sends nothing). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Cleanup after a failed test: SIGKILL to `pid` if it still exists and its command
 * line contains `command` (a pid that has exited may already belong to someone else).
 */
export async function killIfRunning(pid: number, command: string): Promise<void> {
  let commandLine: string;
  try {
    commandLine = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
  } catch {
    return; // already gone
  }
  if (!commandLine.includes(command)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited meanwhile
  }
}

/** Ids of the direct children of `pid` (Linux procps `ps`). */
export function childPids(pid: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    execFile('ps', ['-o', 'pid=', '--ppid', String(pid)], (error, stdout) => {
      // ps exits with 1 when the process has no children.
      if (error && error.code !== 1) {
        reject(new Error(`ps --ppid ${pid} failed: ${error.message}`));
        return;
      }
      resolve(
        stdout
          .split('\n')
          .map((line) => Number(line.trim()))
          .filter((child) => Number.isInteger(child) && child > 0),
      );
    });
  });
}

/** CPU time (user + system, in clock ticks) a process has used so far, from /proc. */
export async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  return Number(fields[11]) + Number(fields[12]);
}

/** A port nobody listens on right now, on the loopback interface. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Makes the app listen on a loopback port, as in production, and returns its base
 * URL. Concurrent supertest calls on an app that is not listening would each start and
 * stop the listener themselves.
 */
export async function listenOnLoopback(app: NestExpressApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/**
 * About `characters` of English in distinct sentences, different for each `label` (so
 * the audio cache cannot answer one request from another). On the bench voice this is
 * roughly 2.5 phoneme ids per character.
 */
export function longText(label: string, characters: number): string {
  const sentences: string[] = [];
  let length = 0;
  for (let part = 1; length < characters; part++) {
    const sentence = `The ${label} report, part ${part}, says the river runs quietly past the old mill.`;
    sentences.push(sentence);
    length += sentence.length + 1;
  }
  return sentences.join(' ');
}

/** supertest parser that keeps a binary body (WAV) as a Buffer. */
export function binary(
  res: request.Response,
  callback: (error: Error | null, body: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
}

/** A stack frame as V8 prints it, raw or inside a JSON string. */
export const STACK_FRAME = /(^|\n|\\n)\s+at\s+\S/;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BuiltServer {
  readonly url: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Settles when the process has exited. */
  readonly exited: Promise<Exit>;
  /** What it printed (the last 64 KiB), for failure messages. */
  output(): string;
}

/**
 * Starts the built server with `node` as an operator would, on 127.0.0.1 and a free
 * port, with only PATH, HOME and `env` in its environment (nothing from the test
 * runner's), in `cwd` (so no stray `.env` is read). Resolves once /health/ready is 200.
 * `nodeArgs` go to node before the script (a benchmark's `--cpu-prof`).
 */
export async function startBuiltServer(
  env: Record<string, string>,
  cwd: string,
  readyTimeoutMs = 60_000,
  nodeArgs: string[] = [],
): Promise<BuiltServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, BUILT_SERVER_MAIN], {
    cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      // Off unless a spec or benchmark asks for it: servers started side by side would
      // all claim the default port 10200.
      WYOMING_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  const keep = (chunk: Buffer): void => {
    printed = (printed + chunk.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const server: BuiltServer = {
    url: `http://127.0.0.1:${port}`,
    process: child,
    pid: child.pid ?? -1,
    exited,
    output: () => printed,
  };
  try {
    await waitFor(
      'the built server to answer /health/ready with 200',
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`server exited early:\n${printed}`);
        }
        const res = await fetch(`${server.url}/health/ready`);
        return res.status === 200;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 200 },
    );
  } catch (error) {
    await killIfRunning(server.pid, BUILT_SERVER_MAIN);
    throw error;
  }
  return server;
}

/** Resolves with how the process exited, or undefined if it still runs after `timeoutMs`. */
export async function exitWithin(
  server: BuiltServer,
  timeoutMs: number,
): Promise<Exit | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    return await Promise.race([server.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
