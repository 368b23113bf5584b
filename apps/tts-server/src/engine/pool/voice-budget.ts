/**
 * Which voices the worker pool keeps loaded, and where. Plain bookkeeping, no processes:
 * the VoiceLoader and the JobRunner ask it before every load and keep its counts through
 * its methods; the unloads it decides on are carried out through `unload`.
 *
 * A voice is its model path and revision (the registry's version of its files): a new
 * revision is another voice, and the revisions it replaces are retired, so a request
 * never runs on a session of files that have been replaced. Each voice has sessions in
 * some workers (a worker may hold two: its one-core session and its all-cores "wide"
 * one, see EnginePoolOptions `idleIntraOpThreads`). Two bounds hold over the whole pool:
 *   - `maxLoadedVoices`: distinct voices with a session in any worker;
 *   - `memoryBytes`: the estimated memory of every session in every worker.
 * A load that would cross one evicts the least recently used voices first, every
 * session of them; never a pinned one (the default voice, loaded in every worker) and
 * never one a request is using (counted by `beginUse`/`endUse`). When nothing can be
 * evicted the load goes ahead rather than fail a request (with a warning, once per
 * voice), and the bounds are enforced again as requests end.
 */
import { statSync } from 'node:fs';
import type { LoadedVoiceDetail, VoiceIdentity, VoicePaths } from '../piper-engine';
import type { EnginePoolLogger } from './pool-api';

/**
 * Resident memory of one loaded session of a voice, per byte of its `.onnx` file.
 * Measured by `npm run bench:voices` on this project's 2-core machines (onnxruntime-node
 * 1.30, 2 workers, generated benchmark voices of 60.8 MB, each with its own weights,
 * each loaded in one worker): the whole server's RSS, workers included, went from
 * 376 MB with none loaded to 482 MB with one, 783 MB with four and 1222 MB with eight:
 * 105.8 MB more per voice, 1.74 times the file (1.67–1.74 at each step). Two more runs
 * gave 1.68 and 1.77 from one to eight (1.66–1.80 at each step); 1.8 is kept, the top
 * of what was seen, so the bound errs on the safe side. That is the weights, the
 * optimized graph and the memory arena of its inferences. A wide (all-cores) session is
 * counted the same.
 */
export const SESSION_BYTES_PER_MODEL_BYTE = 1.8;

/** The memory one session of a voice is estimated to take. */
export function estimateSessionBytes(modelPath: string): number {
  try {
    return Math.round(statSync(modelPath).size * SESSION_BYTES_PER_MODEL_BYTE);
  } catch {
    // A missing file loads nothing (the load fails): it takes no memory.
    return 0;
  }
}

export interface VoiceBudgetOptions<W> {
  /** Distinct voices loaded at once, in any worker; 0: no bound. */
  maxLoadedVoices: number;
  /** Estimated bytes of every session in every worker; 0: no bound. */
  memoryBytes: number;
  /** Releases these voices' sessions in that worker (the pool sends it `unload`). */
  unload: (worker: W, voices: VoiceIdentity[]) => void;
  logger: EnginePoolLogger;
  /** Called for each voice evicted to stay within a bound (metrics). */
  onEvict?: (voice: VoiceIdentity) => void;
  /** Memory of one session of the voice (default: its file size times the measured factor). */
  estimateBytes?: (modelPath: string) => number;
}

/** A voice the pool knows of: loaded somewhere, pinned, or in use. */
export class PooledVoice<W> {
  /** Workers with its one-core session. */
  readonly workers = new Set<W>();
  /** Workers with its all-cores session. */
  readonly wideWorkers = new Set<W>();
  /** Workers loading it in a job of its own (a preload, a second copy). */
  readonly loading = new Set<W>();
  /**
   * Of its sessions, those whose load was sent and has not ended yet (a load job, a pin
   * load, a request on a worker that did not have it). They count in `sessions` from
   * the start: the bounds must see the memory they are about to take.
   */
  loadingSessions = 0;
  /** Requests and phonemize calls using it now. */
  inUse = 0;
  /** Order of last use, for least-recently-used eviction. */
  lastUsedOrder = 0;
  /** Wall-clock time of last use (or load), epoch ms. */
  lastUsedAt = Date.now();
  /** Its files were removed or replaced: unloaded everywhere once no request uses it. */
  retired = false;

  constructor(
    readonly key: string,
    public paths: VoicePaths,
    readonly sessionBytes: number,
  ) {}

  get identity(): VoiceIdentity {
    return { modelPath: this.paths.modelPath, revision: this.paths.revision };
  }

  get sessions(): number {
    return this.workers.size + this.wideWorkers.size;
  }

  get estimatedBytes(): number {
    return this.sessions * this.sessionBytes;
  }
}

export function voiceKey({ modelPath, revision }: VoiceIdentity): string {
  return `${revision ?? ''}\0${modelPath}`;
}

export class VoiceBudget<W> {
  private readonly voices = new Map<string, PooledVoice<W>>();
  /** Pinned voices by key, in the order given. */
  private pins = new Map<string, PooledVoice<W>>();
  private useCounter = 0;
  /** Voices whose load went beyond a bound, warned about once each. */
  private readonly warnedOverBudget = new Set<string>();
  /** Voices evicted to stay within a bound, since the start. */
  evictions = 0;
  private readonly estimateBytes: (modelPath: string) => number;

  constructor(private readonly options: VoiceBudgetOptions<W>) {
    this.estimateBytes = options.estimateBytes ?? estimateSessionBytes;
  }

  get maxLoadedVoices(): number {
    return this.options.maxLoadedVoices;
  }

  get memoryBytes(): number {
    return this.options.memoryBytes;
  }

  /**
   * The pooled voice of these files. A revision not seen before for this model path
   * retires the others (unloaded once no request uses them) and takes over their pin.
   * A retired voice asked for again is live again: the registry offers its files. No
   * revision (a caller that does not know it) means the live one of that model path,
   * if any: it must not retire what callers that know it have loaded.
   */
  voice(paths: VoicePaths): PooledVoice<W> {
    const key = voiceKey(paths);
    let voice = this.voices.get(key);
    if (!voice && paths.revision === undefined) {
      voice = [...this.voices.values()].find(
        (known) => known.paths.modelPath === paths.modelPath && !known.retired,
      );
    }
    if (voice) {
      voice.paths = { ...voice.paths, configPath: paths.configPath };
      voice.retired = false;
      return voice;
    }
    voice = new PooledVoice<W>(key, { ...paths }, this.estimateBytes(paths.modelPath));
    this.voices.set(key, voice);
    let takesPin = false;
    for (const old of [...this.voices.values()]) {
      if (old === voice || old.paths.modelPath !== paths.modelPath) continue;
      if (this.pins.has(old.key)) takesPin = true;
      this.retireOne(old);
    }
    if (takesPin) this.pins.set(key, voice);
    return voice;
  }

  /** Pins exactly these voices (the default one); voices pinned before become ordinary. */
  pin(voices: VoicePaths[]): PooledVoice<W>[] {
    const pinned = voices.map((paths) => this.voice(paths));
    const before = [...this.pins.values()];
    this.pins = new Map(pinned.map((voice) => [voice.key, voice]));
    for (const voice of pinned) this.touch(voice);
    for (const voice of before) this.forgetIfUnused(voice);
    return pinned;
  }

  pinned(): PooledVoice<W>[] {
    return [...this.pins.values()];
  }

  isPinned(voice: PooledVoice<W>): boolean {
    return this.pins.get(voice.key) === voice;
  }

  beginUse(voice: PooledVoice<W>): void {
    voice.inUse += 1;
    this.touch(voice);
  }

  /** A request ended: a retired voice may go now, and loads that went over a bound are undone. */
  endUse(voice: PooledVoice<W>): void {
    voice.inUse -= 1;
    this.touch(voice);
    if (voice.inUse > 0) return;
    if (voice.retired) this.unloadEverywhere(voice);
    this.enforce();
  }

  /**
   * These files were removed or replaced: that revision (every revision of the model
   * path when none is given) is unpinned and unloaded from every worker once no request
   * uses it (requests in flight finish on the sessions they have). A newer revision a
   * request has loaded meanwhile stays.
   */
  retire({ modelPath, revision }: VoiceIdentity): void {
    for (const voice of [...this.voices.values()]) {
      if (voice.paths.modelPath !== modelPath) continue;
      if (revision === undefined || voice.paths.revision === revision) this.retireOne(voice);
    }
  }

  has(worker: W, voice: PooledVoice<W>): boolean {
    return voice.workers.has(worker);
  }

  hasWide(worker: W, voice: PooledVoice<W>): boolean {
    return voice.wideWorkers.has(worker);
  }

  /** Some worker has a session of it, or a load of it is on its way. */
  isPlaced(voice: PooledVoice<W>): boolean {
    return voice.workers.size > 0 || voice.loading.size > 0;
  }

  /** A load of its own (a preload, a second copy) is on its way to some worker. */
  isCopyLoading(voice: PooledVoice<W>): boolean {
    return voice.loading.size > 0;
  }

  /** A job of its own that loads the voice was sent to the worker. */
  beginCopyLoad(voice: PooledVoice<W>, worker: W): void {
    voice.loading.add(worker);
  }

  endCopyLoad(voice: PooledVoice<W>, worker: W): void {
    voice.loading.delete(worker);
  }

  /**
   * A job that loads `sessions` sessions of the voice was sent: they count as loading
   * (`LoadedVoiceDetail.loadingSessions`) until `endLoading`.
   */
  beginLoading(voice: PooledVoice<W>, sessions: number): void {
    voice.loadingSessions += sessions;
  }

  endLoading(voice: PooledVoice<W>, sessions: number): void {
    voice.loadingSessions -= sessions;
  }

  /** Keys of the voices of which this worker holds a one-core and an all-cores session. */
  sessionKeysIn(worker: W): { narrow: Set<string>; wide: Set<string> } {
    const narrow = new Set<string>();
    const wide = new Set<string>();
    for (const voice of this.voices.values()) {
      if (voice.workers.has(worker)) narrow.add(voice.key);
      if (voice.wideWorkers.has(worker)) wide.add(voice.key);
    }
    return { narrow, wide };
  }

  /** Copies of voices over the workers, one per voice a worker holds (EngineStats `loadedVoices`). */
  loadedVoiceCopies(): number {
    return this.loadedVoices().reduce((sum, voice) => sum + voice.workers.size, 0);
  }

  /** The worker is about to hold a session of it (a job that loads it was sent). */
  addSession(voice: PooledVoice<W>, worker: W, wide = false): void {
    (wide ? voice.wideWorkers : voice.workers).add(worker);
    if (!this.voices.has(voice.key)) this.voices.set(voice.key, voice);
  }

  /** The worker failed to load it (it holds nothing of it): forget without unloading. */
  dropSessions(voice: PooledVoice<W>, worker: W): void {
    voice.workers.delete(worker);
    voice.wideWorkers.delete(worker);
    this.forgetIfUnused(voice);
  }

  /** The worker exited: its sessions are gone with it. */
  dropWorker(worker: W): void {
    for (const voice of [...this.voices.values()]) {
      voice.loading.delete(worker);
      this.dropSessions(voice, worker);
    }
  }

  /** Estimated bytes of the sessions of voices other than the pinned ones in this worker. */
  unpinnedBytesIn(worker: W): number {
    let bytes = 0;
    for (const voice of this.voices.values()) {
      if (this.isPinned(voice)) continue;
      if (voice.workers.has(worker)) bytes += voice.sessionBytes;
      if (voice.wideWorkers.has(worker)) bytes += voice.sessionBytes;
    }
    return bytes;
  }

  /**
   * Makes room for `sessions` more sessions of `voice`. `evict`: evicts the least
   * recently used voices that may go until both bounds hold; if they still would not,
   * the load goes ahead anyway (a warning, once per voice), and true is returned either
   * way. `fit`: evicts nothing, and returns whether the sessions
   * fit as things are (for loads that are an optimisation: a preload, a second copy).
   */
  makeRoom(voice: PooledVoice<W>, sessions: number, mode: 'evict' | 'fit'): boolean {
    const over = (): boolean => this.wouldExceed(voice, sessions);
    if (!over()) return true;
    if (mode === 'fit') return false;
    while (over()) {
      const victim = this.leastRecentlyUsed(voice);
      if (!victim) {
        if (!this.warnedOverBudget.has(voice.key)) {
          this.warnedOverBudget.add(voice.key);
          this.options.logger.warn(
            `loading voice ${voice.paths.modelPath} goes beyond ${this.describeBounds()}: ` +
              'every other loaded voice is pinned or in use, so none could be evicted',
          );
        }
        return true;
      }
      this.evict(victim);
    }
    return true;
  }

  /** Evicts least recently used voices while a bound is crossed (loads that went over it). */
  enforce(): void {
    while (this.wouldExceed(undefined, 0)) {
      const victim = this.leastRecentlyUsed(undefined);
      if (!victim) return;
      this.evict(victim);
    }
  }

  loadedVoices(): PooledVoice<W>[] {
    return [...this.voices.values()].filter((voice) => voice.sessions > 0);
  }

  /** Every voice known (loaded, pinned or in use). */
  known(): PooledVoice<W>[] {
    return [...this.voices.values()];
  }

  estimatedBytes(): number {
    let bytes = 0;
    for (const voice of this.voices.values()) bytes += voice.estimatedBytes;
    return bytes;
  }

  details(): LoadedVoiceDetail[] {
    return this.loadedVoices()
      .sort((a, b) => b.lastUsedOrder - a.lastUsedOrder)
      .map((voice) => ({
        modelPath: voice.paths.modelPath,
        ...(voice.paths.revision === undefined ? {} : { revision: voice.paths.revision }),
        workers: new Set([...voice.workers, ...voice.wideWorkers]).size,
        sessions: voice.sessions,
        loadingSessions: voice.loadingSessions,
        estimatedBytes: voice.estimatedBytes,
        pinned: this.isPinned(voice),
        activeRequests: voice.inUse,
        lastUsed: voice.lastUsedAt,
      }));
  }

  private touch(voice: PooledVoice<W>): void {
    voice.lastUsedOrder = ++this.useCounter;
    voice.lastUsedAt = Date.now();
  }

  private wouldExceed(voice: PooledVoice<W> | undefined, sessions: number): boolean {
    const { maxLoadedVoices, memoryBytes } = this.options;
    const newVoice = voice !== undefined && sessions > 0 && voice.sessions === 0 ? 1 : 0;
    if (maxLoadedVoices > 0 && this.loadedVoices().length + newVoice > maxLoadedVoices) {
      return true;
    }
    const adding = voice ? sessions * voice.sessionBytes : 0;
    return memoryBytes > 0 && this.estimatedBytes() + adding > memoryBytes;
  }

  /** The loaded voice used least recently that may be evicted (not pinned, not in use). */
  private leastRecentlyUsed(except: PooledVoice<W> | undefined): PooledVoice<W> | undefined {
    let victim: PooledVoice<W> | undefined;
    for (const voice of this.voices.values()) {
      if (voice === except || voice.sessions === 0 || voice.inUse > 0) continue;
      if (this.isPinned(voice)) continue;
      if (!victim || voice.lastUsedOrder < victim.lastUsedOrder) victim = voice;
    }
    return victim;
  }

  private evict(voice: PooledVoice<W>): void {
    this.evictions += 1;
    this.options.onEvict?.(voice.identity);
    this.options.logger.log(
      `evicting voice ${voice.paths.modelPath} (${voice.sessions} session(s), about ` +
        `${Math.round(voice.estimatedBytes / 2 ** 20)} MiB) to stay within ${this.describeBounds()}`,
    );
    this.unloadEverywhere(voice);
  }

  private retireOne(voice: PooledVoice<W>): void {
    voice.retired = true;
    this.pins.delete(voice.key);
    if (voice.inUse === 0) this.unloadEverywhere(voice);
  }

  private unloadEverywhere(voice: PooledVoice<W>): void {
    for (const worker of new Set([...voice.workers, ...voice.wideWorkers])) {
      this.options.unload(worker, [voice.identity]);
    }
    voice.workers.clear();
    voice.wideWorkers.clear();
    voice.loading.clear();
    this.forgetIfUnused(voice);
  }

  private forgetIfUnused(voice: PooledVoice<W>): void {
    if (voice.sessions > 0 || voice.inUse > 0 || this.isPinned(voice)) return;
    if (this.voices.get(voice.key) === voice) this.voices.delete(voice.key);
  }

  private describeBounds(): string {
    const { maxLoadedVoices, memoryBytes } = this.options;
    const bounds: string[] = [];
    if (maxLoadedVoices > 0) bounds.push(`MAX_LOADED_VOICES=${maxLoadedVoices}`);
    if (memoryBytes > 0) bounds.push(`VOICE_MEMORY_MB=${Math.round(memoryBytes / 2 ** 20)}`);
    return bounds.join(' and ') || 'no bound';
  }
}
