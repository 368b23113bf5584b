/**
 * espeak-ng, compiled to JavaScript by Emscripten (@echogarden/espeak-ng-emscripten,
 * GPL-3.0), used for text-to-phoneme conversion only.
 *
 * Why this build: of the espeak-ng builds in the npm registry it is the one that
 * ships every espeak-ng voice (Piper voices exist for about 40 languages) and costs
 * about 2 ms a call; `phonemizer` is English-only and ~12 ms a call
 * (../shared/PIPER_CONTRACT.md §9). It is an ES module, so it is loaded with a
 * native dynamic import even from this CommonJS code.
 */

/** The part of the Emscripten module this project uses. */
interface EspeakModule {
  HEAPU8: Uint8Array;
  eSpeakNGWorker: new () => EspeakWorkerHandle;
}

interface EspeakWorkerHandle {
  set_voice(name: string): number;
  text_to_phonemes(text: string, useIpa: number): { ptr: number };
  list_voices(): Array<{ identifier: string; name: string; languages: Array<{ name: string }> }>;
}

// TypeScript compiles `import()` to `require()` under CommonJS; an ES module needs the
// real thing, so the call is built at run time.
const importEsm = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<{ default: () => Promise<EspeakModule> }>;

let modulePromise: Promise<EspeakModule> | undefined;

function loadModule(): Promise<EspeakModule> {
  modulePromise ??= importEsm('@echogarden/espeak-ng-emscripten').then((m) => m.default());
  return modulePromise;
}

/**
 * One espeak-ng instance. Not re-entrant (espeak-ng keeps global state), which is
 * fine: JavaScript calls it from one thread, one call at a time.
 */
export class EspeakNg {
  private currentVoice: string | undefined;

  private constructor(
    private readonly module: EspeakModule,
    private readonly worker: EspeakWorkerHandle,
  ) {}

  static async create(): Promise<EspeakNg> {
    const module = await loadModule();
    return new EspeakNg(module, new module.eSpeakNGWorker());
  }

  /** Voice identifiers espeak-ng knows, e.g. "en-us", "de", "en-gb-x-rp". */
  voiceNames(): string[] {
    return this.worker.list_voices().map((voice) => voice.identifier);
  }

  /** @returns false when espeak-ng has no such voice. */
  setVoice(name: string): boolean {
    if (name === this.currentVoice) return true;
    const status = this.worker.set_voice(name);
    if (status !== 0) return false;
    this.currentVoice = name;
    return true;
  }

  /**
   * IPA phonemes of `text` in the current voice, as espeak-ng writes them with a
   * phoneme separator: phonemes joined by "_", words by " ", clauses by " | ",
   * language switches as "(en)".
   */
  textToPhonemes(text: string): string {
    const pointer = this.worker.text_to_phonemes(text, 1).ptr;
    const heap = this.module.HEAPU8;
    let end = pointer;
    while (heap[end] !== 0) end++;
    return Buffer.from(heap.buffer, heap.byteOffset + pointer, end - pointer).toString('utf8');
  }
}
