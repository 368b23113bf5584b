/**
 * A real redis-server (Debian's package; .ci/run installs it) on a free loopback port,
 * started by the tests that need one, with nothing persisted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort, waitFor } from './processes';

export const HAS_REDIS_SERVER = spawnSync('redis-server', ['--version']).status === 0;

export const REDIS_SERVER_MISSING =
  'redis-server is not installed: apt-get install redis-server, then npm run test:redis';

export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()));
    await server.start();
    return server;
  }

  /** (Re)starts the server on its port and waits until it answers PING. */
  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.process = child;
    await waitFor(`redis-server on port ${this.port}`, () => this.answersPing(), {
      timeoutMs: 10_000,
    });
  }

  /** Kills the server (SIGKILL: as if its machine went away) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Empties the server, so one test's counters and entries do not leak into the next. */
  async flushAll(): Promise<void> {
    if (!(await this.command('FLUSHALL', '+OK'))) throw new Error('FLUSHALL failed');
  }

  private answersPing(): Promise<boolean> {
    return this.command('PING', '+PONG');
  }

  /** Sends one inline command; resolves whether the reply starts with `expected`. */
  private command(command: string, expected: string): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: this.port });
      socket.setTimeout(500);
      socket.once('connect', () => socket.write(`${command}\r\n`));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith(expected));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
  }
}
