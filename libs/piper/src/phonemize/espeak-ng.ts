/**
 * espeak-ng, compiled to JavaScript by Emscripten (@echogarden/espeak-ng-emscripten,
 * GPL-3.0), used for text-to-phoneme conversion only.
 *
 * Why this build: of the espeak-ng builds in the npm registry it is the one that
 * ships every espeak-ng voice (Piper voices exist for about 40 languages) and costs
 * about 2 ms a call; `phonemizer` is English-only and ~12 ms a call
 * (docs/PIPER.md §9). It is an ES module, loaded with Node's native
 * `require` from this CommonJS code.
 */

/** The part of the Emscripten module this project uses. */
interface EspeakModule {
  HEAPU8: Uint8Array;
  eSpeakNGWorker: new () => EspeakWorkerHandle;
  _free(pointer: number): void;
}

interface EspeakWorkerHandle {
  set_voice(name: string): number;
  text_to_phonemes(text: string, useIpa: number): { ptr: number };
  list_voices(): Array<{ identifier: string; name: string; languages: Array<{ name: string }> }>;
}

/** The one espeak-ng of the process and the voice it has selected (espeak-ng state is global). */
interface EspeakRuntime {
  module: Promise<EspeakModule>;
  voice: string | undefined;
}

type EspeakFactory = (() => Promise<EspeakModule>) & { [RUNTIME]?: EspeakRuntime };

const RUNTIME = Symbol.for('piper-tts-server/espeak-ng');

/**
 * The process's espeak-ng, created on first use. The ES module is loaded with Node's own
 * `require` (Node >= 20.19 loads ES modules with it), reached through
 * `process.getBuiltinModule` so that Node's loader runs even inside Jest's module
 * sandbox: TypeScript turns `import()` into `require()` under CommonJS, and a native
 * `import()` in a Jest sandbox is tied to the environment of the first test file that
 * ran it. The runtime hangs on the module's factory, which Node loads once per process,
 * so every copy of this file (Jest loads one per test file) shares one espeak-ng
 * instead of initialising its own 24 MB one.
 */
function espeakRuntime(): EspeakRuntime {
  const { createRequire } = process.getBuiltinModule('node:module');
  const esm = createRequire(__filename)('@echogarden/espeak-ng-emscripten') as {
    default: EspeakFactory;
  };
  const factory = esm.default;
  return (factory[RUNTIME] ??= { module: factory(), voice: undefined });
}

/**
 * A handle on espeak-ng. All handles share the process's one espeak-ng (one wasm
 * module, global state: the selected voice among it). Not re-entrant, which is fine: JavaScript calls
 * it from one thread, one call at a time.
 */
export class EspeakNg {
  private constructor(
    private readonly runtime: EspeakRuntime,
    private readonly module: EspeakModule,
    private readonly worker: EspeakWorkerHandle,
  ) {}

  static async create(): Promise<EspeakNg> {
    const runtime = espeakRuntime();
    const module = await runtime.module;
    return new EspeakNg(runtime, module, new module.eSpeakNGWorker());
  }

  /** Voice identifiers espeak-ng knows, e.g. "en-us", "de", "en-gb-x-rp". */
  voiceNames(): string[] {
    return this.worker.list_voices().map((voice) => voice.identifier);
  }

  /** @returns false when espeak-ng has no such voice. */
  setVoice(name: string): boolean {
    if (name === this.runtime.voice) return true;
    const status = this.worker.set_voice(name);
    if (status !== 0) return false;
    this.runtime.voice = name;
    return true;
  }

  /**
   * IPA phonemes of `text` in the current voice, as espeak-ng writes them with a
   * phoneme separator: phonemes joined by "_", words by " ", clauses by " | ",
   * language switches as "(en)". The text goes to espeak-ng as a C string: a NUL ends
   * it there.
   *
   * Every call starts from a clean clause reader. espeak-ng keeps one pushed-back
   * character between calls, and some texts (one ending in "..", for instance) end
   * with a character still pushed back: the next text would then start with it. An
   * empty text read right after consumes it.
   */
  textToPhonemes(text: string): string {
    const phonemes = this.read(text);
    this.read('');
    return phonemes;
  }

  private read(text: string): string {
    const pointer = this.worker.text_to_phonemes(text, 1).ptr;
    try {
      // Read HEAPU8 after the call: the heap may have grown (and been replaced) during it.
      const heap = this.module.HEAPU8;
      const end = heap.indexOf(0, pointer);
      return Buffer.from(heap.buffer, heap.byteOffset + pointer, end - pointer).toString('utf8');
    } finally {
      // The glue allocates a fresh copy of the result for every call and never frees it:
      // without this, a long-running server's wasm heap grows by the size of every result.
      this.module._free(pointer);
    }
  }
}
