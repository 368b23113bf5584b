import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { Counter } from 'prom-client';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';

/** Longest pause between reconnection attempts while Redis is away. */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * The server's connection to Redis (ioredis), when REDIS_URL is set. Built so that a
 * dead Redis never holds a request: commands fail at once while disconnected (no
 * offline queue) and after REDIS_TIMEOUT_MS otherwise; the client keeps reconnecting
 * in the background, so sharing resumes without a restart when Redis returns. Each
 * failure counts in `piper_redis_errors_total`; an outage is logged once when it
 * starts and once when it ends, not once per request.
 */
@Injectable()
export class RedisConnection implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  readonly client: Redis | undefined;
  private readonly errors: Counter<'operation'>;
  private outage = false;

  constructor(settings: Settings, metrics: MetricsService) {
    this.errors = new Counter({
      name: 'piper_redis_errors_total',
      help: 'Redis operations that failed or timed out (the server went on without Redis)',
      labelNames: ['operation'] as const,
      registers: [metrics.registry],
    });
    if (!settings.REDIS_URL) return;
    this.client = new Redis(settings.REDIS_URL, {
      enableOfflineQueue: false,
      commandTimeout: settings.REDIS_TIMEOUT_MS,
      connectTimeout: Math.max(1_000, settings.REDIS_TIMEOUT_MS),
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, MAX_RECONNECT_DELAY_MS),
      lazyConnect: false,
      // At shutdown the socket is ended and, if Redis does not close it (it is gone),
      // destroyed after this long; the default 2 s kept a stopping server up for it.
      disconnectTimeout: 200,
    });
    this.client.on('error', (error: Error) => this.failed('connection', error));
    this.client.on('ready', () => {
      if (this.outage) this.logger.log('Redis is back: cache and rate limits are shared again');
      else this.logger.log(`connected to ${redactedUrl(settings.REDIS_URL ?? '')}`);
      this.outage = false;
    });
  }

  /** Records a failed operation; the first of an outage is logged as a warning. */
  failed(operation: string, error: unknown): void {
    this.errors.inc({ operation });
    if (this.outage) return;
    this.outage = true;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      `Redis unavailable (${operation}: ${reason}); going on without it until it is back`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.client) return;
    // quit() waits for Redis to answer; a dead Redis must not hold the shutdown.
    this.client.disconnect();
    await Promise.resolve();
  }
}

/** The URL without its password, for the log. */
function redactedUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
