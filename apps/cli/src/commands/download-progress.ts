/**
 * How `voices download` shows a file's progress: a bar per file on a terminal, plain
 * lines on stderr elsewhere; both report retries.
 */
import { MultiBar } from 'cli-progress';
import type { DownloadOptions } from '@app/voice-catalogue';
import type { CliIo } from '../cli-io';
import { formatBytes, formatSeconds } from '../text-format';

type ProgressCallbacks = Pick<
  DownloadOptions,
  'onFileStart' | 'onProgress' | 'onFileVerified' | 'onRetry'
>;

type RetryEvent = Parameters<NonNullable<DownloadOptions['onRetry']>>[0];

function retryLine({ file, attempt, attempts, delayMs, reason }: RetryEvent): string {
  return `${file}: ${reason}, retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt}/${attempts})`;
}

/** A progress bar per file (bytes, rate, ETA), for a terminal. */
export function barProgress(stream: NodeJS.WritableStream): {
  callbacks: ProgressCallbacks;
  stop(): void;
} {
  const bars = new MultiBar({
    stream,
    format: ' {file} [{bar}] {percentage}% {done}/{size} {rate} ETA {eta}',
    barsize: 16,
    hideCursor: true,
    autopadding: true,
  });
  const byFile = new Map<string, ReturnType<MultiBar['create']>>();
  return {
    callbacks: {
      onFileStart: ({ file, totalBytes }) => {
        byFile.set(
          file,
          bars.create(Math.max(totalBytes, 1), 0, {
            file,
            done: formatBytes(0),
            size: formatBytes(totalBytes),
            rate: '',
            eta: '--',
          }),
        );
      },
      onProgress: ({ file, bytes, bytesPerSecond, etaSeconds }) => {
        byFile.get(file)?.update(bytes, {
          done: formatBytes(bytes),
          rate: bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : '',
          eta: formatSeconds(etaSeconds),
        });
      },
      onRetry: (retry) => bars.log(`${retryLine(retry)}\n`),
    },
    stop: () => bars.stop(),
  };
}

/** Plain lines on stderr when there is no terminal (logs, CI, pipes). */
export function lineProgress(io: CliIo): { callbacks: ProgressCallbacks; stop(): void } {
  const started = new Map<string, number>();
  return {
    callbacks: {
      onFileStart: ({ file, totalBytes }) => {
        started.set(file, Date.now());
        io.writeStderr(`downloading ${file} (${formatBytes(totalBytes)})`);
      },
      onFileVerified: ({ file, bytes }) => {
        const seconds = (Date.now() - (started.get(file) ?? Date.now())) / 1000;
        const rate = seconds > 0 ? `, ${formatBytes(bytes / seconds)}/s` : '';
        io.writeStderr(`verified ${file}: ${formatBytes(bytes)}, size and md5 match${rate}`);
      },
      onRetry: (retry) => io.writeStderr(retryLine(retry)),
    },
    stop: () => undefined,
  };
}
