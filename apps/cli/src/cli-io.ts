import type { RetryPolicy } from '@app/voice-catalogue';

/** Everything a command reads or writes outside its files, so that tests can run it in-process. */
export interface CliIo {
  readStdin(): Promise<string>;
  writeStdout(data: string | Buffer): void;
  writeStderr(line: string): void;
  /**
   * The environment `voices` takes MODEL_DIR and VOICES_BASE_URL from, as defaults of
   * its flags only (default: none).
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** A terminal for progress bars; without one, progress is plain lines on stderr. */
  progressStream?: NodeJS.WritableStream;
  /** Overrides of the download retry policy (tests shorten the backoff). */
  retry?: Partial<RetryPolicy>;
}

export const processIo: CliIo = {
  env: process.env,
  progressStream: process.stderr.isTTY ? process.stderr : undefined,
  async readStdin() {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  writeStdout: (data) => process.stdout.write(data),
  writeStderr: (line) => process.stderr.write(`${line}\n`),
};
