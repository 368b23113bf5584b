/**
 * The dispatch policy on plain objects: no process, no voice, no timer. Each case is a
 * pool as the policy sees it (workers, requests, voices) and the decision expected.
 */
import {
  PREEMPTIBLE_WAITING_SENTENCES,
  SECOND_COPY_WAITING_SENTENCES,
  aloneOnPool,
  placement,
  preemptionFor,
  secondCopies,
  threadsFor,
  workerToLoad,
  type PoolView,
  type RunView,
  type VoiceView,
  type WorkerView,
} from './dispatch-policy';

function voice(key: string, facts: Partial<VoiceView> = {}): VoiceView {
  return { key, pinned: false, placed: false, copyLoading: false, retired: false, ...facts };
}

const defaultVoice = voice('default', { pinned: true, placed: true });

function run(id: number, facts: Partial<RunView> = {}): RunView {
  return { id, voice: defaultVoice, pendingSentences: 0, sentencesInFlight: 0, ...facts };
}

function worker(pid: number, facts: Partial<WorkerView> = {}): WorkerView {
  return {
    pid,
    state: 'idle',
    loadsPending: false,
    voices: new Set([defaultVoice.key]),
    wideVoices: new Set([defaultVoice.key]),
    unpinnedBytes: 0,
    ...facts,
  };
}

/** A worker speaking a sentence of `of`. */
function busy(pid: number, of: RunView, facts: Partial<WorkerView> = {}): WorkerView {
  return worker(pid, { state: 'busy', job: { run: of, preempted: false }, ...facts });
}

function pool(facts: Partial<PoolView>): PoolView {
  return {
    workers: [],
    runs: [],
    waitingQuickJobs: [],
    queuedSentences: 0,
    preempting: false,
    preemption: true,
    ...facts,
  };
}

describe('dispatch policy', () => {
  describe(placement.name, () => {
    it('runs a voice on an idle worker that has it', () => {
      const other = voice('other', { placed: true });
      const holder = worker(2, { voices: new Set(['default', 'other']) });
      const view = pool({ workers: [worker(1), holder] });
      expect(placement(view, other)).toBe(holder);
    });

    it('runs a pinned voice on any idle worker', () => {
      const first = worker(1);
      const view = pool({ workers: [busy(3, run(9)), first, worker(2)] });
      expect(placement(view, defaultVoice)).toBe(first);
    });

    it('makes a voice that a busy worker has wait for it rather than load it again', () => {
      const other = voice('other', { placed: true });
      const view = pool({
        workers: [busy(1, run(9), { voices: new Set(['other']) }), worker(2)],
      });
      expect(placement(view, other)).toBeUndefined();
    });

    it('makes a voice that is being loaded somewhere wait for that load', () => {
      const loading = voice('loading', { placed: true, copyLoading: true });
      expect(placement(pool({ workers: [worker(1)] }), loading)).toBeUndefined();
    });

    it('loads a voice no worker has on the idle worker holding the least of the other voices', () => {
      const fresh = voice('fresh');
      const light = worker(2, { unpinnedBytes: 10 });
      const view = pool({
        workers: [worker(1, { unpinnedBytes: 500 }), light, worker(3, { unpinnedBytes: 10 })],
      });
      expect(placement(view, fresh)).toBe(light);
    });

    it('has no worker for anything when none is idle', () => {
      const view = pool({ workers: [busy(1, run(9)), worker(2, { state: 'starting' })] });
      expect(placement(view, defaultVoice)).toBeUndefined();
    });
  });

  describe(workerToLoad.name, () => {
    it('gives loads (pins, PRELOAD_VOICES) to an idle worker before any request', () => {
      const loader = worker(2, { loadsPending: true });
      const view = pool({ workers: [worker(1), loader], queuedSentences: 3 });
      expect(workerToLoad(view)).toBe(loader);
    });

    it('leaves a busy worker with loads pending to finish its job first', () => {
      const view = pool({ workers: [busy(1, run(9), { loadsPending: true }), worker(2)] });
      expect(workerToLoad(view)).toBeUndefined();
    });
  });

  describe('all cores for a lone sentence', () => {
    it('runs a sentence wide while every other worker is idle and nothing waits', () => {
      const target = worker(1);
      const view = pool({ workers: [target, worker(2)] });
      expect(aloneOnPool(view, target)).toBe(true);
      expect(threadsFor(view, target, run(1))).toEqual({ wide: true });
    });

    it('runs narrow when another worker is busy, or sentences wait', () => {
      const target = worker(1);
      const shortRun = run(1);
      expect(
        threadsFor(
          pool({ workers: [target, busy(2, run(9))], preemption: false }),
          target,
          shortRun,
        ),
      ).toEqual({ wide: false });
      expect(threadsFor(pool({ workers: [target], queuedSentences: 1 }), target, shortRun)).toEqual(
        { wide: false },
      );
      expect(
        threadsFor(pool({ workers: [target], waitingQuickJobs: [defaultVoice] }), target, shortRun),
      ).toEqual({ wide: false });
    });

    it('runs narrow on a worker without an all-cores session of the voice', () => {
      const other = voice('other', { placed: true });
      const target = worker(1, { voices: new Set(['other']), wideVoices: new Set() });
      expect(threadsFor(pool({ workers: [target] }), target, run(1, { voice: other }))).toEqual({
        wide: false,
      });
    });
  });

  describe(preemptionFor.name, () => {
    const longText = run(1, {
      pendingSentences: PREEMPTIBLE_WAITING_SENTENCES,
      sentencesInFlight: 1,
    });
    const shortRequest = run(2);

    it('pauses every busy worker speaking a long text for a lone short request', () => {
      const target = worker(1);
      const speaking = busy(2, longText);
      const view = pool({ workers: [target, speaking], runs: [longText, shortRequest] });
      expect(preemptionFor(view, target, shortRequest)).toEqual([speaking]);
      expect(threadsFor(view, target, shortRequest)).toEqual({ wide: true, pause: [speaking] });
    });

    it('does not preempt when it is off, or while another preemption runs', () => {
      const target = worker(1);
      const facts = { workers: [target, busy(2, longText)], runs: [longText, shortRequest] };
      expect(
        preemptionFor(pool({ ...facts, preemption: false }), target, shortRequest),
      ).toBeUndefined();
      expect(
        preemptionFor(pool({ ...facts, preempting: true }), target, shortRequest),
      ).toBeUndefined();
    });

    it('does not preempt for a request with more of its own sentences running or waiting', () => {
      const target = worker(1);
      const workers = [target, busy(2, longText)];
      for (const request of [run(2, { pendingSentences: 1 }), run(2, { sentencesInFlight: 1 })]) {
        const view = pool({ workers, runs: [longText, request] });
        expect(preemptionFor(view, target, request)).toBeUndefined();
      }
    });

    it('does not pause a text with fewer than PREEMPTIBLE_WAITING_SENTENCES waiting', () => {
      const target = worker(1);
      const shortText = run(1, { pendingSentences: PREEMPTIBLE_WAITING_SENTENCES - 1 });
      const view = pool({ workers: [target, busy(2, shortText)], runs: [shortText, shortRequest] });
      expect(preemptionFor(view, target, shortRequest)).toBeUndefined();
    });

    it('pauses a sentence once at most', () => {
      const target = worker(1);
      const paused = worker(2, { state: 'busy', job: { run: longText, preempted: true } });
      const view = pool({ workers: [target, paused], runs: [longText, shortRequest] });
      expect(preemptionFor(view, target, shortRequest)).toBeUndefined();
    });

    it('pauses nothing under load: another request waits that it would not pause', () => {
      const target = worker(1);
      const waiting = run(3, { pendingSentences: 1 });
      const view = pool({
        workers: [target, busy(2, longText)],
        runs: [longText, waiting, shortRequest],
      });
      expect(preemptionFor(view, target, shortRequest)).toBeUndefined();
    });

    it('pauses nothing while a phonemize call waits, a worker starts, or a busy worker loads', () => {
      const target = worker(1);
      const runs = [longText, shortRequest];
      const speaking = busy(2, longText);
      expect(
        preemptionFor(
          pool({ workers: [target, speaking], runs, waitingQuickJobs: [defaultVoice] }),
          target,
          shortRequest,
        ),
      ).toBeUndefined();
      const starting = worker(3, { state: 'starting' });
      expect(
        preemptionFor(pool({ workers: [target, speaking, starting], runs }), target, shortRequest),
      ).toBeUndefined();
      const loading = worker(3, { state: 'busy', job: { preempted: false } });
      expect(
        preemptionFor(pool({ workers: [target, speaking, loading], runs }), target, shortRequest),
      ).toBeUndefined();
    });

    it('has nothing to pause on an otherwise idle pool', () => {
      const target = worker(1);
      const view = pool({ workers: [target, worker(2)], runs: [shortRequest] });
      expect(preemptionFor(view, target, shortRequest)).toBeUndefined();
    });
  });

  describe(secondCopies.name, () => {
    const burst = voice('burst', { placed: true });
    const holder = busy(1, run(9), { voices: new Set(['default', 'burst']) });
    const fits = (): boolean => true;

    it('loads another copy once SECOND_COPY_WAITING_SENTENCES wait for a busy worker', () => {
      const idle = worker(2);
      const runs = [run(1, { voice: burst, pendingSentences: SECOND_COPY_WAITING_SENTENCES })];
      expect(secondCopies(pool({ workers: [holder, idle], runs }), fits)).toEqual([
        { voice: burst, worker: idle, waitingSentences: SECOND_COPY_WAITING_SENTENCES },
      ]);
    });

    it('counts the waiting sentences of every request and phonemize call of the voice', () => {
      const runs = [
        run(1, { voice: burst, pendingSentences: SECOND_COPY_WAITING_SENTENCES - 2 }),
        run(2, { voice: burst, pendingSentences: 1 }),
      ];
      const view = pool({ workers: [holder, worker(2)], runs, waitingQuickJobs: [burst] });
      expect(secondCopies(view, fits).map((copy) => copy.waitingSentences)).toEqual([
        SECOND_COPY_WAITING_SENTENCES,
      ]);
    });

    it('does not copy a voice with fewer waiting, a pinned, retired or already-copying one, or one that does not fit', () => {
      const many = SECOND_COPY_WAITING_SENTENCES;
      const cases: [VoiceView, number, () => boolean][] = [
        [burst, many - 1, fits],
        [{ ...burst, pinned: true }, many, fits],
        [{ ...burst, retired: true }, many, fits],
        [{ ...burst, copyLoading: true }, many, fits],
        [burst, many, () => false],
      ];
      for (const [copied, pendingSentences, fitsBounds] of cases) {
        const runs = [run(1, { voice: copied, pendingSentences })];
        expect(secondCopies(pool({ workers: [holder, worker(2)], runs }), fitsBounds)).toEqual([]);
      }
    });

    it('gives each idle worker one copy at most, on the one holding the least', () => {
      const other = voice('other', { placed: true });
      const heavy = worker(2, { unpinnedBytes: 900 });
      const light = worker(3, { unpinnedBytes: 100 });
      const runs = [
        run(1, { voice: burst, pendingSentences: SECOND_COPY_WAITING_SENTENCES }),
        run(2, { voice: other, pendingSentences: SECOND_COPY_WAITING_SENTENCES }),
        run(3, {
          voice: voice('third', { placed: true }),
          pendingSentences: SECOND_COPY_WAITING_SENTENCES,
        }),
      ];
      const copies = secondCopies(pool({ workers: [holder, heavy, light], runs }), fits);
      expect(copies.map((copy) => [copy.voice.key, copy.worker.pid])).toEqual([
        ['burst', 3],
        ['other', 2],
      ]);
    });
  });
});
