/**
 * The Wyoming protocol's TCP server (Home Assistant's way to speak), beside HTTP in the
 * same process: listening on WYOMING_PORT at HOST once the app has started (0: off),
 * announced over mDNS with WYOMING_ZEROCONF, at most WYOMING_MAX_CONNECTIONS clients.
 *
 * Shutdown, as for HTTP: when the app starts closing (onModuleDestroy, before the
 * engine drains) the port stops accepting and idle connections are closed; connections
 * with audio in progress are closed once it is written, or when SHUTDOWN_TIMEOUT_MS has
 * passed (beforeApplicationShutdown). A request accepted before then (a `synthesize`
 * waiting its turn, a stream whose sentences are still to come) holds the engine's drain
 * (PiperEngine.holdDrain), so all of it is spoken; a new one gets an `error` event.
 */
import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Histogram } from 'prom-client';
import { Settings } from '../config/settings';
import { MetricsService } from '../metrics/metrics.service';
import { WyomingConnection } from './wyoming-connection';
import { encodeEvent } from './wyoming-frames';
import { WyomingSpeechService } from './wyoming-speech.service';
import { WyomingZeroconf } from './wyoming-zeroconf';

const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

@Injectable()
export class WyomingServerService
  implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown
{
  private readonly logger = new Logger(WyomingServerService.name);
  private server: Server | undefined;
  private readonly connections = new Set<WyomingConnection>();
  private draining = false;
  private readonly events;
  private readonly errors;
  private readonly requests;
  private readonly durations: Histogram<'type'>;

  constructor(
    private readonly settings: Settings,
    private readonly speech: WyomingSpeechService,
    private readonly zeroconf: WyomingZeroconf,
    metrics: MetricsService,
  ) {
    this.events = metrics.counter('wyoming_events_total', 'Wyoming events received, by type', [
      'type',
    ]);
    this.errors = metrics.counter(
      'wyoming_errors_total',
      'Wyoming error events sent (and connections refused or closed for bad input), by code',
      ['code'],
    );
    this.requests = metrics.counter(
      'wyoming_requests_total',
      'Wyoming audio requests answered (synthesize, synthesize-stream), by type and outcome',
      ['type', 'outcome'],
    );
    this.durations = new Histogram({
      name: 'wyoming_request_duration_seconds',
      help: 'Time from a Wyoming audio request to its last audio event, by type',
      labelNames: ['type'] as const,
      buckets: DURATION_BUCKETS,
      registers: [metrics.registry],
    });
    metrics.gauge(
      'wyoming_connections',
      'Wyoming client connections open',
      () => this.connections.size,
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.settings.WYOMING_PORT === 0) return;
    const port = await this.listen(this.settings.WYOMING_PORT, this.settings.HOST);
    this.logger.log(`Wyoming protocol (Home Assistant) on tcp://${this.settings.HOST}:${port}`);
    if (this.settings.WYOMING_ZEROCONF) this.zeroconf.announce(port);
  }

  /** Starts listening (tests call it on port 0); resolves to the port bound. */
  async listen(port: number, host: string): Promise<number> {
    if (this.server) return (this.server.address() as AddressInfo).port;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    server.listen(port, host);
    await once(server, 'listening');
    server.on('error', (error) => this.logger.error(`Wyoming server: ${error.message}`));
    return (server.address() as AddressInfo).port;
  }

  /** The port listened on, if any. */
  port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  onModuleDestroy(): void {
    this.draining = true;
    this.server?.close();
    for (const connection of this.connections) connection.endWhenIdle();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.onModuleDestroy();
    await this.zeroconf.withdraw();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.settings.SHUTDOWN_TIMEOUT_MS);
    });
    const closed = Promise.all([...this.connections].map((connection) => connection.closed));
    await Promise.race([closed, timeout]);
    clearTimeout(timer);
    for (const connection of this.connections) connection.destroy();
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.settings.WYOMING_MAX_CONNECTIONS) {
      this.errors.inc({ code: 'TOO_MANY_CONNECTIONS' });
      socket.on('error', () => undefined);
      socket.end(
        encodeEvent({
          type: 'error',
          data: {
            code: 'TOO_MANY_CONNECTIONS',
            text: `the server has ${this.settings.WYOMING_MAX_CONNECTIONS} Wyoming connections open (WYOMING_MAX_CONNECTIONS); retry later`,
          },
        }),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const connection = new WyomingConnection(socket, {
      speech: this.speech,
      logger: this.logger,
      maxEventBytes: this.settings.WYOMING_MAX_EVENT_BYTES,
      idleTimeoutMs: this.settings.WYOMING_IDLE_TIMEOUT_MS,
      onEvent: (type) => this.events.inc({ type: KNOWN_EVENTS.has(type) ? type : 'other' }),
      onError: (code) => this.errors.inc({ code }),
      onRequest: (type, outcome, seconds) => {
        this.requests.inc({ type, outcome });
        if (outcome === 'ok') this.durations.observe({ type }, seconds);
      },
      isDraining: () => this.draining,
    });
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
  }
}

/** Event types counted by name; anything else (a client's own events) is "other". */
const KNOWN_EVENTS = new Set([
  'describe',
  'ping',
  'synthesize',
  'synthesize-start',
  'synthesize-chunk',
  'synthesize-stop',
]);
