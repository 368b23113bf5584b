/**
 * The worker processes themselves: which entry to fork, their start-up, their exit
 * and replacement (with a back-off for workers that cannot even start), replacement of
 * a worker that outgrew WORKER_MAX_RSS_MB, pausing and resuming (preemption) and ending
 * them at shutdown. It knows nothing of jobs or voices: what a worker says goes up
 * through `WorkerSupervisorEvents`, and the pool decides what it means.
 *
 * Why processes (docs/ARCHITECTURE.md): a voice takes about 2 s to load and
 * milliseconds to speak a sentence (docs/PIPER.md §8), so workers keep voices loaded;
 * inference is CPU bound and must not run on the event loop that serves HTTP; and a
 * request that hangs or crashes the engine is ended by killing one process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { EngineStoppedError, WorkerCrashedError } from '../engine.errors';
import type { WorkerReply, WorkerRequest } from '../worker-protocol';
import type { EnginePoolLogger } from './pool-api';

/** Time a worker gets to exit after `disconnect()` before SIGKILL. */
export const EXIT_GRACE_MS = 2_000;
/** Longest pause before restarting a worker that died while starting (doubling from 500 ms). */
export const MAX_RESTART_DELAY_MS = 30_000;
/** First pause before restarting a worker after one that died while starting. */
export const FIRST_RESTART_DELAY_MS = 500;

/** Why the pool ended a worker on purpose (its exit is then no crash). */
export type KillReason = 'timeout' | 'shutdown' | 'memory';

/**
 * One worker process. `starting`: forked, its first load of the pinned voices has not
 * ended (it takes no request yet); `serving`; `exited`. Written by the supervisor only.
 */
export class PoolWorker {
  lifecycle: 'starting' | 'serving' | 'exited' = 'starting';
  killedFor: KillReason | undefined;
  /** Its resident memory once its pinned voices were loaded (WORKER_MAX_RSS_MB). */
  startRssBytes: number | undefined;
  readonly pid: number;
  /** Settles when it has exited. */
  readonly exited: Promise<void>;
  /** Settles when its first load ends: rejects if it fails or the worker dies first. */
  readonly startup: Promise<void>;
  private markExitedNow!: () => void;
  private settleStartupNow!: (error?: Error) => void;
  private startupSettled = false;

  constructor(readonly child: ChildProcess) {
    this.pid = child.pid ?? -1;
    this.exited = new Promise<void>((resolve) => (this.markExitedNow = resolve));
    this.startup = new Promise<void>((resolve, reject) => {
      this.settleStartupNow = (error) => (error ? reject(error) : resolve());
    });
    // Only start() awaits the startup; a replacement's failure is logged instead.
    this.startup.catch(() => undefined);
  }

  /** Not exited, nor dead with its exit not handled yet. */
  get alive(): boolean {
    return (
      this.lifecycle !== 'exited' && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Serving and not being ended: it may take a job when it has none. */
  get available(): boolean {
    return this.lifecycle === 'serving' && this.alive && this.killedFor === undefined;
  }

  settleStartup(error?: Error): void {
    if (this.startupSettled) return;
    this.startupSettled = true;
    this.settleStartupNow(error);
  }

  markExited(): void {
    this.markExitedNow();
  }
}

export interface WorkerSupervisorOptions {
  /** onnxruntime intra-op threads of each worker's sessions. */
  intraOpThreads: number;
  /** Threads of each pinned voice's all-cores session; 0: none. */
  idleIntraOpThreads: number;
  /** WORKER_MAX_RSS_MB in bytes; 0: never replaced for memory. */
  maxWorkerRssBytes: number;
  logger: EnginePoolLogger;
}

/** What the supervisor reports upward. */
export interface WorkerSupervisorEvents {
  /** The worker listens for jobs: its pinned voices are to be loaded. */
  listening(worker: PoolWorker): void;
  /** Any reply but `ready`. */
  reply(worker: PoolWorker, reply: Exclude<WorkerReply, { type: 'ready' }>): void;
  /** It exited and is no longer among the live workers; `error` is what its job failed with. */
  exited(worker: PoolWorker, error: Error): void;
}

export class WorkerSupervisor {
  private readonly workers = new Set<PoolWorker>();
  private mode: 'running' | 'draining' | 'stopped' = 'running';
  private failedStarts = 0;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private warnedMemoryBound = false;
  /** Workers started to replace one that died or was killed (metrics). */
  replacedWorkers = 0;
  /** Workers replaced for outgrowing `maxWorkerRssBytes` (metrics). */
  memoryReplacedWorkers = 0;

  constructor(
    private readonly options: WorkerSupervisorOptions,
    private readonly events: WorkerSupervisorEvents,
  ) {}

  /** The live workers, in the order they were started. */
  live(): PoolWorker[] {
    return [...this.workers];
  }

  /** Process ids of the live workers that were spawned. */
  livePids(): number[] {
    return this.live()
      .map((worker) => worker.pid)
      .filter((pid) => pid > 0);
  }

  spawn(): PoolWorker {
    const { file, execArgv, env } = workerProcess();
    const threads = [this.options.intraOpThreads, this.options.idleIntraOpThreads];
    const child = fork(file, threads.map(String), {
      execArgv,
      env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = new PoolWorker(child);
    this.workers.add(worker);
    child.on('message', (reply: WorkerReply) => {
      if (reply.type !== 'ready') this.events.reply(worker, reply);
      else if (this.mode !== 'stopped') this.events.listening(worker);
    });
    child.on('error', (error) => {
      this.options.logger.error(`synthesis worker ${worker.pid}: ${error.message}`);
      // A process that never spawned emits no 'exit'.
      if (child.pid === undefined) this.onExit(worker, null, null);
    });
    child.once('exit', (code, signal) => this.onExit(worker, code, signal));
    return worker;
  }

  /**
   * Its first load of the pinned voices ended: it serves from now on (one whose load
   * failed still serves, loading voices on demand) unless the load never reached it.
   */
  startupEnded(
    worker: PoolWorker,
    result: { error?: Error; rssBytes?: number; reachedWorker: boolean },
  ): void {
    if (result.rssBytes !== undefined) this.noteStartRss(worker, result.rssBytes);
    worker.settleStartup(result.error);
    if (!result.error) this.failedStarts = 0;
    if (result.reachedWorker && worker.lifecycle === 'starting') worker.lifecycle = 'serving';
  }

  send(worker: PoolWorker, message: WorkerRequest): void {
    if (worker.lifecycle === 'exited') return;
    worker.child.send(message, (error) => {
      if (!error || worker.lifecycle === 'exited') return;
      // A channel that cannot carry a message leaves the worker useless: replace it.
      this.options.logger.error(
        `synthesis worker ${worker.pid}: cannot send ${message.type}: ${error.message}`,
      );
      worker.child.kill('SIGKILL');
    });
  }

  /** Kills a worker whose job ran past its time; its exit starts a replacement. */
  killForTimeout(worker: PoolWorker): void {
    worker.killedFor = 'timeout';
    worker.child.kill('SIGKILL');
  }

  /**
   * Replaces the worker if a sentence left it above `maxWorkerRssBytes` (onnxruntime
   * keeps the buffers of the longest sentence a session has spoken): it is ended now,
   * and its exit starts a fresh one. One that was above the bound with only its voices
   * loaded is kept (a fresh one would be too: see `noteStartRss`). True if replaced.
   */
  replaceIfOutgrown(worker: PoolWorker, rssBytes: number): boolean {
    const bound = this.options.maxWorkerRssBytes;
    if (
      bound <= 0 ||
      this.mode !== 'running' ||
      worker.killedFor ||
      rssBytes <= bound ||
      worker.startRssBytes === undefined ||
      worker.startRssBytes >= bound
    ) {
      return false;
    }
    worker.killedFor = 'memory';
    this.memoryReplacedWorkers += 1;
    this.options.logger.log(
      `synthesis worker ${worker.pid} uses ${mebibytes(rssBytes)} MB after a sentence, ` +
        `above WORKER_MAX_RSS_MB (${mebibytes(bound)}): replacing it with a fresh one`,
    );
    void this.end(worker);
    return true;
  }

  pause(workers: Iterable<PoolWorker>): void {
    for (const worker of workers) worker.child.kill('SIGSTOP');
  }

  resume(workers: Iterable<PoolWorker>): void {
    for (const worker of workers) {
      if (worker.lifecycle !== 'exited') worker.child.kill('SIGCONT');
    }
  }

  /** The pool drains: nothing is replaced for memory any more (dead workers still are). */
  drain(): void {
    if (this.mode === 'running') this.mode = 'draining';
  }

  /** Ends every worker (disconnect, SIGKILL after a grace) and replaces none; resolves when all have exited. */
  stop(): Promise<void> {
    this.mode = 'stopped';
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    return Promise.all(
      [...this.workers].map((worker) => {
        worker.killedFor = 'shutdown';
        return this.end(worker);
      }),
    ).then(() => undefined);
  }

  /** Ends a worker: it exits when its channel closes; SIGKILL after EXIT_GRACE_MS. */
  private end(worker: PoolWorker): Promise<void> {
    if (worker.lifecycle === 'exited') return worker.exited;
    const kill = setTimeout(() => worker.child.kill('SIGKILL'), EXIT_GRACE_MS);
    if (worker.child.connected) worker.child.disconnect();
    else worker.child.kill('SIGKILL');
    return worker.exited.finally(() => clearTimeout(kill));
  }

  /** A worker's size once its pinned voices are loaded; one warning if that is above the bound already. */
  private noteStartRss(worker: PoolWorker, rssBytes: number): void {
    worker.startRssBytes = rssBytes;
    const bound = this.options.maxWorkerRssBytes;
    if (bound <= 0 || rssBytes < bound || this.warnedMemoryBound) return;
    this.warnedMemoryBound = true;
    this.options.logger.warn(
      `synthesis worker ${worker.pid} uses ${mebibytes(rssBytes)} MB with its voices ` +
        `loaded, above WORKER_MAX_RSS_MB (${mebibytes(bound)}): workers are not replaced for memory`,
    );
  }

  private onExit(worker: PoolWorker, code: number | null, signal: NodeJS.Signals | null): void {
    if (worker.lifecycle === 'exited') return;
    const wasStarting = worker.lifecycle === 'starting';
    worker.lifecycle = 'exited';
    this.workers.delete(worker);
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    this.events.exited(worker, new WorkerCrashedError(how));
    worker.settleStartup(
      this.mode === 'stopped'
        ? new EngineStoppedError()
        : new WorkerCrashedError(`${how} while starting`),
    );
    worker.markExited();
    if (this.mode === 'stopped') return;
    if (!worker.killedFor) {
      this.options.logger.error(
        `synthesis worker ${worker.pid} stopped (${how}); starting a replacement`,
      );
    }
    if (wasStarting) this.failedStarts += 1;
    // A worker that cannot even start (broken install, voice that crashes the
    // runtime) would otherwise be re-forked in a tight loop.
    const delayMs =
      this.failedStarts === 0
        ? 0
        : Math.min(FIRST_RESTART_DELAY_MS * 2 ** (this.failedStarts - 1), MAX_RESTART_DELAY_MS);
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.mode === 'stopped') return;
      this.replacedWorkers += 1;
      this.spawn();
    }, delayMs);
    this.restartTimers.add(timer);
  }
}

function mebibytes(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/**
 * How to start synth-worker. Built, it is the .js beside the engine and runs plainly.
 * From source (Jest, ts-node) it is the .ts and needs ts-node and the `@app/*` paths.
 * The parent's own execArgv (--inspect, Jest's flags) is never passed on, and an
 * --inspect in NODE_OPTIONS is dropped: every worker would fight for the debug port.
 */
function workerProcess(): { file: string; execArgv: string[]; env: NodeJS.ProcessEnv } {
  const fromSource = __filename.endsWith('.ts');
  const engineDir = join(__dirname, '..');
  // Passing the environment on is not reading configuration (see config/).
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (env.NODE_OPTIONS) {
    env.NODE_OPTIONS = env.NODE_OPTIONS.split(/\s+/)
      .filter((option) => !/^--inspect/.test(option))
      .join(' ');
  }
  if (!fromSource) return { file: join(engineDir, 'synth-worker.js'), execArgv: [], env };
  env.TS_NODE_PROJECT = resolve(engineDir, '../../../../tsconfig.json');
  return {
    file: join(engineDir, 'synth-worker.ts'),
    execArgv: [
      '-r',
      require.resolve('ts-node/register/transpile-only'),
      '-r',
      require.resolve('tsconfig-paths/register'),
    ],
    env,
  };
}
