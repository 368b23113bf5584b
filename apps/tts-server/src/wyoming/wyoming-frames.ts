/**
 * The Wyoming protocol's framing, as the reference library (wyoming 1.9.0, event.py)
 * reads and writes it: one event is
 *
 *   a header line: JSON object {"type", "version"?, "data"?, "data_length"?,
 *                  "payload_length"?} then "\n"
 *   data_length bytes: a UTF-8 JSON object merged over the header's "data"
 *   payload_length bytes: binary (audio)
 *
 * Hand-written: no npm package implements Wyoming (the protocol lives in Python), and
 * the framing is a line and two counted byte runs. What the reference library leaves
 * open, this parser bounds, because its input is a stranger's socket: every header line,
 * data run and payload has at most `maxEventBytes`, text must be valid UTF-8, and a
 * header whose lengths cannot be trusted ends the connection (the next event's start is
 * unknown). A header line that is not a valid event is skipped with an error and the
 * stream goes on with the next line, as its framing is intact.
 */

/** The protocol version written in every header (that of the reference library read). */
export const WYOMING_VERSION = '1.9.0';

export type WyomingData = Record<string, unknown>;

export interface WyomingEvent {
  type: string;
  data: WyomingData;
  payload?: Buffer;
}

/** Why input was refused; `fatal` ones leave no way to find the next event. */
export class WyomingFrameError extends Error {
  constructor(
    readonly code: WyomingFrameErrorCode,
    message: string,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}

export type WyomingFrameErrorCode =
  'MALFORMED_HEADER' | 'MALFORMED_DATA' | 'INVALID_UTF8' | 'EVENT_TOO_LARGE';

const NEWLINE = 0x0a;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One event's bytes, ready for `socket.write` (one write: events never interleave). */
export function encodeEvent(event: WyomingEvent): Buffer {
  const header: Record<string, unknown> = { type: event.type, version: WYOMING_VERSION };
  const data = Object.keys(event.data).length > 0 ? Buffer.from(JSON.stringify(event.data)) : null;
  if (data) header.data_length = data.length;
  const payload = event.payload && event.payload.length > 0 ? event.payload : null;
  if (payload) header.payload_length = payload.length;
  const line = Buffer.from(`${JSON.stringify(header)}\n`);
  return Buffer.concat([line, ...(data ? [data] : []), ...(payload ? [payload] : [])]);
}

interface PendingHeader {
  type: string;
  data: WyomingData;
  dataLength: number;
  payloadLength: number;
}

/**
 * Incremental reader: `push` each chunk the socket delivers; it calls `onEvent` for
 * every complete event and `onError` for every refused one, in stream order. After a
 * fatal error it reads nothing more (the caller closes the connection).
 */
export class WyomingFrameParser {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private header: PendingHeader | undefined;
  private stopped = false;

  constructor(
    private readonly maxEventBytes: number,
    private readonly onEvent: (event: WyomingEvent) => void,
    private readonly onError: (error: WyomingFrameError) => void,
  ) {}

  /** Bytes received that are not a complete event yet (a partial event is pending). */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  /** True when the stream is between events (nothing of the next one received). */
  get idle(): boolean {
    return this.bufferedBytes === 0 && this.header === undefined;
  }

  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    while (!this.stopped && this.step());
  }

  /** Reads one header line or one counted body if it is all here; false when it must wait. */
  private step(): boolean {
    if (this.header) return this.readBody(this.header);
    const all = this.joined();
    const end = all.indexOf(NEWLINE);
    if (end < 0) {
      if (all.length > this.maxEventBytes) {
        this.fail('EVENT_TOO_LARGE', `header line longer than ${this.maxEventBytes} bytes`, true);
      }
      return false;
    }
    if (end > this.maxEventBytes) {
      this.fail('EVENT_TOO_LARGE', `header line longer than ${this.maxEventBytes} bytes`, true);
      return false;
    }
    const line = all.subarray(0, end);
    this.keep(all.subarray(end + 1));
    this.readHeader(line);
    return true;
  }

  private readHeader(line: Buffer): void {
    // Blank lines (a client's stray "\r\n" or keep-alive newline) carry no event.
    if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return;
    const text = this.decode(line, 'header line');
    if (text === undefined) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.fail('MALFORMED_HEADER', 'header line is not JSON', false);
    }
    if (!isObject(parsed)) {
      return this.fail('MALFORMED_HEADER', 'header line is not a JSON object', false);
    }
    const dataLength = this.length(parsed, 'data_length');
    const payloadLength = this.length(parsed, 'payload_length');
    if (dataLength === undefined || payloadLength === undefined) return;
    const { type, data } = parsed;
    const header: PendingHeader = {
      type: typeof type === 'string' ? type : '',
      data: isObject(data) ? data : {},
      dataLength,
      payloadLength,
    };
    const problem =
      typeof type !== 'string' || type === ''
        ? 'header has no "type" string'
        : data !== undefined && data !== null && !isObject(data)
          ? '"data" in the header is not a JSON object'
          : undefined;
    if (problem) {
      // Its lengths are sound, so its body is skipped and the stream goes on after it.
      this.header = { ...header, type: '' };
      this.fail('MALFORMED_HEADER', problem, false);
      return;
    }
    this.header = header;
  }

  /** A length field: absent or null is 0; anything but a whole number in bounds is fatal. */
  private length(header: Record<string, unknown>, field: string): number | undefined {
    const value = header[field];
    if (value === undefined || value === null) return 0;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail('MALFORMED_HEADER', `"${field}" is not a non-negative whole number`, true);
      return undefined;
    }
    if (value > this.maxEventBytes) {
      this.fail(
        'EVENT_TOO_LARGE',
        `"${field}" is ${value} bytes; the limit is ${this.maxEventBytes}`,
        true,
      );
      return undefined;
    }
    return value;
  }

  private readBody(header: PendingHeader): boolean {
    const size = header.dataLength + header.payloadLength;
    if (this.bufferedBytes < size) return false;
    const all = this.joined();
    const dataBytes = all.subarray(0, header.dataLength);
    const payload = all.subarray(header.dataLength, size);
    this.keep(all.subarray(size));
    this.header = undefined;
    if (header.type === '') return true; // refused already; its body is skipped
    let data = header.data;
    if (dataBytes.length > 0) {
      const text = this.decode(dataBytes, 'data');
      if (text === undefined) return true;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        this.fail('MALFORMED_DATA', `data of "${header.type}" is not JSON`, false);
        return true;
      }
      if (!isObject(parsed)) {
        this.fail('MALFORMED_DATA', `data of "${header.type}" is not a JSON object`, false);
        return true;
      }
      data = { ...data, ...parsed };
    }
    this.onEvent({
      type: header.type,
      data,
      // A copy: the chunk it came in may hold the next events too.
      ...(payload.length > 0 ? { payload: Buffer.from(payload) } : {}),
    });
    return true;
  }

  private decode(bytes: Buffer, what: string): string | undefined {
    try {
      return utf8.decode(bytes);
    } catch {
      this.fail('INVALID_UTF8', `${what} is not valid UTF-8`, false);
      return undefined;
    }
  }

  private fail(code: WyomingFrameErrorCode, message: string, fatal: boolean): void {
    if (fatal) {
      this.stopped = true;
      this.keep(Buffer.alloc(0));
      this.header = undefined;
    }
    this.onError(new WyomingFrameError(code, message, fatal));
  }

  private joined(): Buffer {
    if (this.buffered.length > 1) this.buffered = [Buffer.concat(this.buffered)];
    return this.buffered[0] ?? Buffer.alloc(0);
  }

  private keep(rest: Buffer): void {
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
