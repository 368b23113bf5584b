/**
 * One streamed input of a Wyoming connection (synthesize-start … synthesize-stop): its
 * voice, its input, the sentences being synthesized ahead of the one being sent, and
 * what it has sent; plus the small ordered semaphore that bounds that lookahead.
 */
import type { DrainHold } from '../engine/piper-engine';
import type { StreamedInput } from './streamed-input';
import type { SpeechTarget } from './wyoming-speech.service';

/** Sentences of a streamed input being synthesized ahead of the one being sent. */
const STREAM_LOOKAHEAD = 2;

/** One streamed input: its voice, its sentences, and the audio sent so far. */
export class StreamSession {
  readonly lookahead = new Lookahead(STREAM_LOOKAHEAD);
  audioStarted = false;
  failed = false;
  characters = 0;
  audioSeconds = 0;
  private resolveDone!: (result: {
    outcome: string;
    characters: number;
    audioSeconds: number;
  }) => void;
  readonly done = new Promise<{ outcome: string; characters: number; audioSeconds: number }>(
    (resolve) => (this.resolveDone = resolve),
  );

  constructor(
    readonly target: SpeechTarget | undefined,
    readonly input: StreamedInput,
    /** Its sentences are spoken through a shutdown begun after it (PiperEngine.holdDrain). */
    readonly drainHold: DrainHold | undefined,
  ) {}

  settle(outcome: string): void {
    this.resolveDone({ outcome, characters: this.characters, audioSeconds: this.audioSeconds });
  }
}

/** At most `permits` tasks started and not yet released, started in call order. */
class Lookahead {
  private waiting: (() => void)[] = [];

  constructor(private permits: number) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.permits > 0) {
      this.permits--;
      return task();
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(task);
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.permits++;
  }
}
