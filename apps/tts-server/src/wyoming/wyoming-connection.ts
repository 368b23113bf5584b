/**
 * One Wyoming client connection: reads events (wyoming-frames.ts), answers them, and
 * writes its answers in order. Audio requests (`synthesize`, or one streamed
 * `synthesize-start` … `synthesize-stop`) are spoken one after another through one
 * output chain, so the events of two answers never interleave; `ping` is answered at
 * once, and `synthesize-chunk`s are read while earlier sentences are spoken (that is
 * the point of streaming input).
 *
 * Nothing a client sends can throw out of here: a refused event gets an `error` event
 * and the connection goes on; only input whose framing is lost (a bad length, an event
 * beyond the bound) or a stall (the idle timeout) closes it.
 */
import type { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { DomainError } from '@app/errors';
import { looksLikeSsml } from '@app/ssml';
import {
  encodeEvent,
  WyomingFrameParser,
  type WyomingData,
  type WyomingEvent,
  WyomingFrameError,
} from './wyoming-frames';
import { EngineStoppedError } from '../engine/engine.errors';
import type { DrainHold } from '../engine/piper-engine';
import { StreamSession } from './stream-session';
import { StreamedInput, type InputPiece } from './streamed-input';
import {
  WyomingEventError,
  type SpeechTarget,
  type WyomingSpeechService,
} from './wyoming-speech.service';

/** Samples per `audio-chunk`, as wyoming-piper sends them (about 46 ms at 22.05 kHz). */
export const SAMPLES_PER_CHUNK = 1024;
/** Bytes a client may leave unread before the server waits for it to read. */
const SOCKET_HIGH_WATER_BYTES = 256 * 1024;

export interface ConnectionOptions {
  speech: WyomingSpeechService;
  logger: Logger;
  maxEventBytes: number;
  idleTimeoutMs: number;
  /** MetricsService hooks (WyomingServerService keeps the counters). */
  onEvent: (type: string) => void;
  onError: (code: string) => void;
  onRequest: (type: string, outcome: string, seconds: number) => void;
  /** The server is draining: new audio requests are refused. */
  isDraining: () => boolean;
}

/** An `error` event's code for anything that is not a known domain error. */
const INTERNAL_ERROR = 'INTERNAL_ERROR';

export class WyomingConnection {
  readonly id = randomUUID();
  private readonly parser: WyomingFrameParser;
  private readonly abort = new AbortController();
  private output: Promise<void> = Promise.resolve();
  /** Audio requests accepted and not yet answered. */
  private inFlight = 0;
  /** The stream open for input: from its synthesize-start to its synthesize-stop. */
  private stream: StreamSession | undefined;
  /** Streams whose synthesize-stop came and whose last events are not written yet. */
  private stoppingStreams = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Tasks on the output chain not yet done. */
  private queuedTasks = 0;
  private closing = false;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.parser = new WyomingFrameParser(
      options.maxEventBytes,
      (event) => this.handle(event),
      (error) => this.refuseFrame(error),
    );
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.armIdleTimer();
      this.parser.push(chunk);
    });
    socket.on('error', (error) => {
      this.options.logger.debug(`wyoming connection ${this.id}: ${error.message}`);
    });
    socket.once('close', () => {
      clearTimeout(this.idleTimer);
      // Stops the syntheses of a client that left (their workers go on with others).
      this.abort.abort();
      // A stream left open holds the drain no longer.
      this.stream?.drainHold?.release();
    });
    this.armIdleTimer();
  }

  /** Something is being spoken or waits to be. */
  get busy(): boolean {
    return this.inFlight > 0 || this.stream !== undefined || this.stoppingStreams > 0;
  }

  /** Ends the connection once its answers in progress are written (graceful drain). */
  endWhenIdle(): void {
    this.closing = true;
    if (!this.busy) this.close();
  }

  /** Ends the connection now. */
  destroy(): void {
    this.socket.destroy();
  }

  private handle(event: WyomingEvent): void {
    this.options.onEvent(event.type);
    try {
      switch (event.type) {
        case 'ping':
          return this.send({ type: 'pong', data: { text: event.data.text ?? null } });
        case 'describe':
          return this.enqueue(() => this.send({ type: 'info', data: this.options.speech.info() }));
        case 'synthesize':
          // Sent besides a stream for clients without streaming: the stream answers it.
          if (this.stream) return;
          return this.synthesize(event.data);
        case 'synthesize-start':
          return this.startStream(event.data);
        case 'synthesize-chunk':
          return this.streamChunk(event.data);
        case 'synthesize-stop':
          return this.stopStream();
        default:
          // Unknown events are ignored, as the protocol says.
          return;
      }
    } catch (error) {
      this.sendError(error);
    }
  }

  private synthesize(data: WyomingData): void {
    const text = textOf(data, 'synthesize');
    // Home Assistant marks SSML with text_format; a text that starts with <speak is too.
    const ssml = data.text_format === 'ssml' || looksLikeSsml(text);
    const target = this.target(data.voice);
    if (!target) return;
    this.request('synthesize', text.length, target, async (signal, drainHold) => {
      const audio = await this.options.speech.speak(text, target, signal, ssml, drainHold);
      await this.sendAudioStart(target);
      const seconds = await this.sendAudio(audio, target);
      await this.sendEvent({ type: 'audio-stop', data: {} });
      return seconds;
    });
  }

  private startStream(data: WyomingData): void {
    if (this.stream) {
      throw new WyomingEventError('synthesize-start while a stream is open: send synthesize-stop');
    }
    // A stream begun after shutdown did is refused; one begun before is spoken to its end.
    let target: SpeechTarget | undefined;
    if (this.options.isDraining()) this.sendError(new EngineStoppedError());
    else target = this.target(data.voice);
    const { maxTextLength, maxSsmlLength } = this.options.speech;
    const session = new StreamSession(
      target,
      // Declared SSML is kept whole until synthesize-stop; else the text's start decides.
      new StreamedInput(maxTextLength, maxSsmlLength, data.text_format === 'ssml' || undefined),
      target && this.options.speech.holdDrain(),
    );
    this.stream = session;
    if (!target) return; // refused (error sent); its chunks are read and dropped until stop
    this.inFlight++;
    const started = performance.now();
    void session.done.then(({ outcome, characters, audioSeconds }) => {
      session.drainHold?.release();
      this.inFlight--;
      this.finished('synthesize-stream', outcome, started, target, characters, audioSeconds);
      // Draining: the stream was what kept the connection open (stopStream saw it in flight).
      if (this.closing && !this.busy) this.close();
    });
  }

  private streamChunk(data: WyomingData): void {
    const session = this.stream;
    if (!session) throw new WyomingEventError('synthesize-chunk without synthesize-start');
    const text = textOf(data, 'synthesize-chunk');
    if (!session.target || session.failed) return;
    let pieces: InputPiece[];
    try {
      pieces = session.input.add(text);
    } catch (error) {
      // Too much SSML: the stream fails now, in order after what it has sent.
      session.failed = true;
      this.enqueue(() => void this.sendError(error));
      return;
    }
    for (const piece of pieces) this.speakPiece(session, piece);
  }

  private stopStream(): void {
    const session = this.stream;
    if (!session) throw new WyomingEventError('synthesize-stop without synthesize-start');
    if (session.target && !session.failed) {
      for (const piece of session.input.finish()) this.speakPiece(session, piece);
    }
    // Its input is over now: a synthesize that follows is a request of its own (the
    // backwards-compatible copy comes before synthesize-stop), answered after this one.
    this.stream = undefined;
    this.stoppingStreams++;
    this.enqueue(async () => {
      try {
        if (session.target && !session.failed) {
          if (!session.audioStarted) await this.sendAudioStart(session.target);
          await this.sendEvent({ type: 'audio-stop', data: {} });
        }
        await this.sendEvent({ type: 'synthesize-stopped', data: {} });
      } finally {
        this.stoppingStreams--;
      }
      session.settle(session.failed ? 'error' : 'ok');
      if (this.closing && !this.busy) this.close();
    });
  }

  /**
   * One sentence of a stream (or its whole SSML document): synthesis starts now (up to
   * the lookahead), sending in order.
   */
  private speakPiece(session: StreamSession, { text, ssml }: InputPiece): void {
    const target = session.target!;
    session.characters += text.length;
    const { signal, dispose } = this.requestSignal();
    const audio = session.lookahead.run(() =>
      this.options.speech.speak(text, target, signal, ssml, session.drainHold),
    );
    // A failure is reported by the output chain, in order; this only keeps it handled.
    audio.catch(() => undefined);
    this.enqueue(async () => {
      try {
        if (session.failed) return;
        const pcm = await audio;
        if (!session.audioStarted) {
          session.audioStarted = true;
          await this.sendAudioStart(target);
        }
        session.audioSeconds += await this.sendAudio(pcm, target);
      } catch (error) {
        if (!session.failed) this.sendError(error);
        session.failed = true;
      } finally {
        dispose();
        session.lookahead.release();
      }
    });
  }

  /** A whole audio request on the output chain, timed, counted and logged. */
  private request(
    type: string,
    characters: number,
    target: SpeechTarget,
    speak: (signal: AbortSignal, drainHold: DrainHold) => Promise<number>,
  ): void {
    if (this.options.isDraining()) throw new EngineStoppedError();
    // Accepted now: it is spoken even if shutdown begins while it waits its turn.
    const drainHold = this.options.speech.holdDrain();
    this.inFlight++;
    const started = performance.now();
    this.enqueue(async () => {
      let outcome = 'ok';
      let audioSeconds = 0;
      const { signal, dispose } = this.requestSignal();
      try {
        audioSeconds = await speak(signal, drainHold);
      } catch (error) {
        outcome = this.sendError(error);
      } finally {
        drainHold.release();
        dispose();
        this.inFlight--;
        this.finished(type, outcome, started, target, characters, audioSeconds);
        if (this.closing && !this.busy) this.close();
      }
    });
  }

  private finished(
    type: string,
    outcome: string,
    started: number,
    target: SpeechTarget,
    characters: number,
    audioSeconds: number,
  ): void {
    const seconds = (performance.now() - started) / 1000;
    this.options.onRequest(type, outcome, seconds);
    this.options.logger.log({
      msg: 'wyoming request completed',
      requestId: randomUUID(),
      connectionId: this.id,
      event: type,
      voice: target.voice.name,
      speaker: target.speakerId,
      characters,
      audioSeconds: Math.round(audioSeconds * 1000) / 1000,
      outcome: this.socket.destroyed && outcome === 'ok' ? 'client-gone' : outcome,
      responseTime: Math.round(seconds * 1000),
    });
  }

  private target(voice: unknown): SpeechTarget | undefined {
    try {
      return this.options.speech.target(voice);
    } catch (error) {
      this.sendError(error);
      return undefined;
    }
  }

  private async sendAudioStart(target: SpeechTarget): Promise<void> {
    await this.sendEvent({ type: 'audio-start', data: audioFormat(target) });
  }

  /** The stream's PCM in `audio-chunk`s of SAMPLES_PER_CHUNK; resolves to its seconds. */
  private async sendAudio(audio: Readable, target: SpeechTarget): Promise<number> {
    const format = audioFormat(target);
    const chunkBytes = SAMPLES_PER_CHUNK * format.width;
    let bytes = 0;
    let carry: Buffer = Buffer.alloc(0);
    for await (const piece of audio as AsyncIterable<Buffer>) {
      let buffer: Buffer = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
      while (buffer.length >= chunkBytes) {
        await this.sendEvent({
          type: 'audio-chunk',
          data: format,
          payload: buffer.subarray(0, chunkBytes),
        });
        buffer = buffer.subarray(chunkBytes);
      }
      carry = buffer;
      bytes += piece.length;
    }
    if (carry.length > 0)
      await this.sendEvent({ type: 'audio-chunk', data: format, payload: carry });
    return bytes / format.width / format.rate;
  }

  private send(event: WyomingEvent): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(encodeEvent(event));
  }

  /** Writes, then waits while the client has more than SOCKET_HIGH_WATER_BYTES unread. */
  private async sendEvent(event: WyomingEvent): Promise<void> {
    this.send(event);
    while (this.socket.writableLength > SOCKET_HIGH_WATER_BYTES && !this.socket.destroyed) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.socket.off('drain', done);
          this.socket.off('close', done);
          resolve();
        };
        this.socket.once('drain', done);
        this.socket.once('close', done);
      });
    }
  }

  /** Sends an `error` event for `error`; returns its code. */
  private sendError(error: unknown): string {
    const { code, text } = describe(error);
    if (code === INTERNAL_ERROR) {
      this.options.logger.error(
        `wyoming connection ${this.id}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
    this.options.onError(code);
    this.send({ type: 'error', data: { text, code } });
    return code;
  }

  private refuseFrame(error: WyomingFrameError): void {
    this.sendError(error);
    if (error.fatal) this.close();
  }

  private enqueue(task: () => Promise<void> | void): void {
    this.queuedTasks++;
    this.output = this.output
      .then(task)
      .catch((error: unknown) => {
        this.sendError(error);
      })
      .finally(() => this.queuedTasks--);
  }

  /**
   * A signal for one request that aborts when the client leaves: one listener on the
   * connection's signal per request, removed when it ends (a long connection would
   * otherwise pile them up).
   */
  private requestSignal(): { signal: AbortSignal; dispose: () => void } {
    const controller = new AbortController();
    const abort = (): void => controller.abort();
    this.abort.signal.addEventListener('abort', abort, { once: true });
    return {
      signal: controller.signal,
      dispose: () => this.abort.signal.removeEventListener('abort', abort),
    };
  }

  /** Half an event and then nothing, or nothing at all while nothing is spoken: close. */
  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      // Audio being spoken is not a stall; a stream waiting for chunks can be.
      if (this.queuedTasks > 0) return this.armIdleTimer();
      const partial = !this.parser.idle;
      this.options.onError('IDLE_TIMEOUT');
      this.send({
        type: 'error',
        data: {
          code: 'IDLE_TIMEOUT',
          text: partial
            ? `an event was begun and not finished within ${this.options.idleTimeoutMs} ms; closing`
            : `nothing was sent for ${this.options.idleTimeoutMs} ms; closing`,
        },
      });
      this.close();
    }, this.options.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private close(): void {
    clearTimeout(this.idleTimer);
    if (this.socket.destroyed) return;
    this.socket.end();
    // A client that does not read or close its side does not hold the socket.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }
}

function audioFormat(target: SpeechTarget): { rate: number; width: number; channels: number } {
  return { rate: target.voice.config.sampleRate, width: 2, channels: 1 };
}

function textOf(data: WyomingData, type: string): string {
  if (typeof data.text !== 'string') throw new WyomingEventError(`${type} needs a "text" string`);
  return data.text;
}

/** An error as an `error` event says it: domain and protocol errors by their code and message. */
function describe(error: unknown): { code: string; text: string } {
  if (error instanceof DomainError) return { code: error.code, text: error.message };
  if (error instanceof WyomingEventError) return { code: error.code, text: error.message };
  if (error instanceof WyomingFrameError) return { code: error.code, text: error.message };
  return { code: INTERNAL_ERROR, text: 'internal server error' };
}
