/**
 * Entry of a synthesis worker: a child process started by EnginePool with
 * `child_process.fork`, speaking the protocol of worker-protocol.ts over IPC.
 *
 * Loading a voice costs over ten times one synthesis (../shared/PIPER_CONTRACT.md §8),
 * so a worker lives long and keeps every voice it has loaded, by model path. It runs
 * one job at a time (its onnxruntime session already uses the worker's share of the
 * cores); a `cancel` is handled at once and stops the running synthesis between
 * sentences.
 *
 * Nothing a request contains may end the process: every job catches its errors and
 * reports them as `{type: 'error'}`. A real bug that escapes (an uncaught exception)
 * keeps Node's default of printing it and exiting; the parent then fails the job with
 * WorkerCrashedError and starts a replacement. When the parent goes away (exit, crash,
 * or `disconnect()` at shutdown) the IPC channel closes and the worker exits with it,
 * so no worker outlives its server.
 *
 * argv[2]: onnxruntime intra-op threads per voice session (0 = onnxruntime's default).
 */
import {
  MAX_PHONEMES_PER_INFERENCE,
  PiperError,
  PiperVoice,
  splitOverlongSentence,
} from '@app/piper';
import type { EngineSynthesisRequest, PhonemizedSentence } from './piper-engine';
import {
  INTERNAL_ERROR_CODE,
  type ReportedError,
  type VoicePaths,
  type WorkerReply,
  type WorkerRequest,
} from './worker-protocol';

if (!process.send) {
  console.error('synth-worker is started by EnginePool through child_process.fork, not directly');
  process.exit(1);
}

const intraOpThreads = Number(process.argv[2] ?? 0) || 0;

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

const voices = new Map<string, Promise<PiperVoice>>();

function loadVoice({ modelPath, configPath }: VoicePaths): Promise<PiperVoice> {
  let voice = voices.get(modelPath);
  if (!voice) {
    const loading = PiperVoice.load(modelPath, { configPath, intraOpThreads, logger });
    voices.set(modelPath, loading);
    // A voice that failed to load is forgotten, so a later request tries again
    // (the files may have been fixed) instead of getting a stale error forever.
    loading.catch(() => {
      if (voices.get(modelPath) === loading) voices.delete(modelPath);
    });
    voice = loading;
  }
  return voice;
}

async function synthesize(
  jobId: number,
  { modelPath, configPath, text, options }: EngineSynthesisRequest,
  signal: AbortSignal,
): Promise<void> {
  let sentenceCount = 0;
  if (!signal.aborted) {
    const voice = await loadVoice({ modelPath, configPath });
    for await (const sentence of voice.synthesize(text, { ...options, signal })) {
      sentenceCount += 1;
      if (signal.aborted) break;
      const { index, phonemes, phonemeIds, pcm, sampleRate, inferenceMs } = sentence;
      await send({
        type: 'sentence',
        jobId,
        sentence: { index, phonemes, phonemeIds, pcm, sampleRate, inferenceMs },
      });
    }
  }
  await send({ type: 'done', jobId, sentenceCount, cancelled: signal.aborted });
}

/** The sentences exactly as `synthesize` would speak them (empty ones dropped, overlong ones cut). */
async function phonemize(voicePaths: VoicePaths, text: string): Promise<PhonemizedSentence[]> {
  const voice = await loadVoice(voicePaths);
  return voice
    .phonemize(text)
    .filter((sentence) => sentence.length > 0)
    .flatMap((sentence) => splitOverlongSentence(sentence, MAX_PHONEMES_PER_INFERENCE))
    .map((phonemes) => ({ phonemes, phonemeIds: voice.phonemesToIds(phonemes) }));
}

function reportError(error: unknown): ReportedError {
  if (error instanceof PiperError) {
    return { name: error.name, code: error.code, message: error.message };
  }
  if (error instanceof Error) {
    return { name: error.name, code: INTERNAL_ERROR_CODE, message: error.message };
  }
  return { name: 'Error', code: INTERNAL_ERROR_CODE, message: String(error) };
}

type JobRequest = Exclude<WorkerRequest, { type: 'cancel' }>;

async function runJob(request: JobRequest, signal: AbortSignal): Promise<void> {
  const { jobId } = request;
  try {
    switch (request.type) {
      case 'preload':
        for (const voice of request.voices) await loadVoice(voice);
        await send({ type: 'done', jobId, sentenceCount: 0, cancelled: false });
        return;
      case 'synthesize':
        await synthesize(jobId, request.request, signal);
        return;
      case 'phonemize': {
        const { modelPath, configPath, text } = request;
        const sentences = await phonemize({ modelPath, configPath }, text);
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

/** Jobs run one after another; a cancel reaches its job at once, queued or running. */
let jobs: Promise<void> = Promise.resolve();
const controllers = new Map<number, AbortController>();

process.on('message', (request: WorkerRequest) => {
  if (request.type === 'cancel') {
    controllers.get(request.jobId)?.abort();
    return;
  }
  const controller = new AbortController();
  controllers.set(request.jobId, controller);
  jobs = jobs
    .then(() => runJob(request, controller.signal))
    .finally(() => controllers.delete(request.jobId));
});

process.on('disconnect', () => process.exit(0));

void send({ type: 'ready' });
