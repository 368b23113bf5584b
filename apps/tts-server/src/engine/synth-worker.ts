/**
 * Entry of a synthesis worker: a child process started by EnginePool with
 * `child_process.fork`, speaking the protocol of worker-protocol.ts over IPC.
 *
 * Loading a voice costs over ten times one synthesis (docs/PIPER.md §8),
 * so a worker lives long and keeps the voices it has loaded, by model path and revision,
 * until the pool unloads one (its memory budget, a retired voice). It runs
 * one job at a time (its onnxruntime session already uses the worker's share of the
 * cores). A job is small: plan a request (check options, phonemize, cut into
 * sentences) or synthesize one sentence; the pool decides which request's sentence
 * comes next, so cancelling a request is the pool not sending its next sentence.
 *
 * Nothing a request contains may end the process: every job catches its errors and
 * reports them as `{type: 'error'}`. A real bug that escapes (an uncaught exception)
 * keeps Node's default of printing it and exiting; the parent then fails the job with
 * WorkerCrashedError and starts a replacement. When the parent goes away (exit, crash,
 * or `disconnect()` at shutdown) the IPC channel closes and the worker exits with it,
 * so no worker outlives its server.
 *
 * argv[2]: onnxruntime intra-op threads per voice session (0 = onnxruntime's default).
 * argv[3]: intra-op threads of a second, wide session of each pinned voice, used for
 * a sentence the pool runs while every other worker is idle (0 or absent: none).
 * onnxruntime fixes a session's threads when it is created, so a worker that should
 * use one core under load and every core when alone needs two sessions.
 */
import {
  EmptyTextError,
  PiperError,
  PiperVoice,
  VoiceConfigError,
  VoiceModelError,
} from '@app/piper';
import type { EngineSynthesisRequest, PhonemizedSentence } from './piper-engine';
import {
  INTERNAL_ERROR_CODE,
  VOICE_FILES_MISSING_CODE,
  type PreloadFailure,
  type ReportedError,
  type SentenceJob,
  type VoiceIdentity,
  type VoicePaths,
  type WorkerReply,
  type WorkerRequest,
} from './worker-protocol';

if (!process.send) {
  console.error('synth-worker is started by EnginePool through child_process.fork, not directly');
  process.exit(1);
}

const intraOpThreads = Number(process.argv[2] ?? 0) || 0;
const wideIntraOpThreads = Number(process.argv[3] ?? 0) || 0;

/** Resolves once the reply is handed to the channel (or the channel is gone). */
function send(reply: WorkerReply): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) {
      resolve();
      return;
    }
    // A failed send means the parent is gone: 'disconnect' ends this process.
    process.send(reply, undefined, {}, () => resolve());
  });
}

const logger = {
  warn: (message: string): void => void send({ type: 'warning', message }),
};

/** Loaded voices by identity (model path and revision), then by intra-op threads. */
const voices = new Map<string, Map<number, Promise<PiperVoice>>>();

function identityKey({ modelPath, revision }: VoiceIdentity): string {
  return `${revision ?? ''}\0${modelPath}`;
}

function loadVoice(
  { modelPath, configPath, revision }: VoicePaths,
  wide = false,
): Promise<PiperVoice> {
  const threads = wide && wideIntraOpThreads > 0 ? wideIntraOpThreads : intraOpThreads;
  const key = identityKey({ modelPath, revision });
  let sessions = voices.get(key);
  if (!sessions) {
    sessions = new Map();
    voices.set(key, sessions);
  }
  let voice = sessions.get(threads);
  if (!voice) {
    const loading = PiperVoice.load(modelPath, { configPath, intraOpThreads: threads, logger });
    const variants = sessions;
    variants.set(threads, loading);
    // A voice that failed to load is forgotten, so a later request tries again
    // (the files may have been fixed) instead of getting a stale error forever.
    loading.catch(() => {
      if (variants.get(threads) === loading) variants.delete(threads);
      if (variants.size === 0 && voices.get(key) === variants) voices.delete(key);
    });
    voice = loading;
  }
  return voice;
}

/** Sessions run once already (by `warm` or a request). */
const warmed = new WeakSet<PiperVoice>();

/**
 * Runs a preloaded session once (PiperVoice.warmUp) before the pool counts it loaded,
 * so that no request pays for its first inference, which costs about twice a later one.
 */
async function warm(voice: PiperVoice): Promise<void> {
  if (warmed.has(voice)) return;
  warmed.add(voice);
  await voice.warmUp();
}

/**
 * Forgets every session of these voices and releases their onnxruntime sessions (the
 * native memory, which is most of a voice). The pool unloads only voices no request
 * uses, and this runs between jobs, so no inference is using a session being released.
 */
async function unloadVoices(identities: VoiceIdentity[]): Promise<number> {
  let released = 0;
  for (const identity of identities) {
    const key = identityKey(identity);
    const sessions = voices.get(key);
    if (!sessions) continue;
    voices.delete(key);
    for (const loading of sessions.values()) {
      try {
        await (await loading).release();
        released += 1;
      } catch {
        // It never loaded: nothing to release.
      }
    }
  }
  return released;
}

/**
 * A request's sentences exactly as PiperVoice.synthesize would speak them (its own
 * `plan`: options checked with the same typed errors, empty sentences dropped, overlong
 * ones cut, a long first sentence cut at clauses when asked), with their ids.
 */
async function plan({
  modelPath,
  configPath,
  revision,
  text,
  options,
}: EngineSynthesisRequest): Promise<PhonemizedSentence[]> {
  const voice = await loadVoice({ modelPath, configPath, revision });
  const { sentences, words } = voice.plan(text, options);
  return withIds(voice, sentences).map((sentence, i) =>
    words ? { ...sentence, words: words[i] } : sentence,
  );
}

/**
 * One sentence's audio, by PiperVoice's own per-sentence step (`speakSentence`), so the
 * pool's sentences are the samples `synthesize` makes; the pool's specs compare them
 * with PiperVoice in-process, bit for bit. The options were checked by the plan.
 */
async function synthesizeSentence({
  modelPath,
  configPath,
  revision,
  options,
  phonemeIds,
  wide,
}: SentenceJob): Promise<SentenceAudio> {
  const voice = await loadVoice({ modelPath, configPath, revision }, wide);
  warmed.add(voice);
  const { pcm, inferenceMs, speechSamples, phonemeIdSamples } = await voice.speakSentence(
    phonemeIds,
    voice.sentenceSettings(options),
  );
  return { pcm, sampleRate: voice.sampleRate, inferenceMs, speechSamples, phonemeIdSamples };
}

/** A sentence's audio as the `audio` reply carries it. */
type SentenceAudio = Omit<Extract<WorkerReply, { type: 'audio' }>, 'type' | 'jobId' | 'rssBytes'>;

function withIds(voice: PiperVoice, sentences: string[][]): PhonemizedSentence[] {
  return sentences.map((phonemes) => ({ phonemes, phonemeIds: voice.phonemesToIds(phonemes) }));
}

/** The sentences exactly as `synthesize` would speak them; none for a text with nothing to say. */
async function phonemize(voicePaths: VoicePaths, text: string): Promise<PhonemizedSentence[]> {
  const voice = await loadVoice(voicePaths);
  try {
    return withIds(voice, voice.plan(text).sentences);
  } catch (error) {
    if (error instanceof EmptyTextError) return [];
    throw error;
  }
}

function reportError(error: unknown): ReportedError {
  // A voice whose files were removed from MODEL_DIR after the request named it (hot
  // reload): the voice is gone, which is not a broken voice or a server fault.
  if (
    (error instanceof VoiceConfigError || error instanceof VoiceModelError) &&
    (error.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
  ) {
    return { name: error.name, code: VOICE_FILES_MISSING_CODE, message: error.message };
  }
  if (error instanceof PiperError) {
    return { name: error.name, code: error.code, message: error.message };
  }
  if (error instanceof Error) {
    return { name: error.name, code: INTERNAL_ERROR_CODE, message: error.message };
  }
  return { name: 'Error', code: INTERNAL_ERROR_CODE, message: String(error) };
}

async function runJob(request: Exclude<WorkerRequest, { type: 'unload' }>): Promise<void> {
  const { jobId } = request;
  try {
    switch (request.type) {
      case 'preload': {
        // Each voice is tried, so one bad file does not keep the others out.
        const failures: PreloadFailure[] = [];
        for (const voice of request.voices) {
          try {
            await warm(await loadVoice(voice));
            if (voice.wide && wideIntraOpThreads > 0) await warm(await loadVoice(voice, true));
          } catch (error) {
            const { modelPath, revision } = voice;
            failures.push({ voice: { modelPath, revision }, error: reportError(error) });
          }
        }
        await send({ type: 'done', jobId, failures, rssBytes: process.memoryUsage.rss() });
        return;
      }
      case 'plan': {
        const sentences = await plan(request.request);
        await send({ type: 'planned', jobId, sentences });
        const { modelPath, configPath, revision, options } = request.request;
        const first = await synthesizeSentence({
          modelPath,
          configPath,
          revision,
          options,
          phonemeIds: sentences[0].phonemeIds,
          wide: request.wide && sentences.length === 1,
        });
        await send({ type: 'audio', jobId, ...first, rssBytes: process.memoryUsage.rss() });
        return;
      }
      case 'sentence': {
        const audio = await synthesizeSentence(request.sentence);
        await send({ type: 'audio', jobId, ...audio, rssBytes: process.memoryUsage.rss() });
        return;
      }
      case 'phonemize': {
        const { modelPath, configPath, revision, text } = request;
        const sentences = await phonemize({ modelPath, configPath, revision }, text);
        await send({ type: 'phonemes', jobId, sentences });
        return;
      }
      default:
        throw new Error(
          `unknown request type ${JSON.stringify((request as { type: unknown }).type)}`,
        );
    }
  } catch (error) {
    await send({ type: 'error', jobId, error: reportError(error) });
  }
}

/** The pool sends a job only to an idle worker; should two arrive, they run in turn. */
let jobs: Promise<void> = Promise.resolve();

process.on('message', (request: WorkerRequest) => {
  if (request.type === 'unload') {
    const { voices: unloaded } = request;
    jobs = jobs.then(async () => {
      const sessions = await unloadVoices(unloaded);
      await send({ type: 'unloaded', voices: unloaded, sessions });
    });
  } else {
    if (request.type === 'plan' || request.type === 'sentence') {
      pausedByPool = request.pausedPids ?? [];
    }
    jobs = jobs.then(() => runJob(request));
  }
});

/** Workers the pool paused for this worker's last job (see `pausedPids`). */
let pausedByPool: number[] = [];

process.on('disconnect', () => {
  // The pool is gone: nothing else would ever resume them.
  for (const pid of pausedByPool) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Gone already.
    }
  }
  process.exit(0);
});

void send({ type: 'ready' });
