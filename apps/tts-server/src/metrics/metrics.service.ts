import { Injectable } from '@nestjs/common';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CollectFunction,
} from 'prom-client';

/** Seconds: from a cached hit (milliseconds) to a long text on a busy server (minutes). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const REAL_TIME_FACTOR_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2];

/**
 * The server's Prometheus metrics (prom-client), on a registry of its own so that
 * several servers in one process (tests) do not collide. Names follow Prometheus
 * conventions: units in the name, `_total` for counters, base units (seconds, bytes).
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from a request to the end of its response, by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly synthesisSeconds = new Histogram({
    name: 'piper_synthesis_duration_seconds',
    help: 'Wall time of a completed synthesis (queueing included), by voice',
    labelNames: ['voice'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly audioSeconds = new Counter({
    name: 'piper_audio_seconds_total',
    help: 'Seconds of audio synthesized, by voice',
    labelNames: ['voice'] as const,
    registers: [this.registry],
  });

  readonly realTimeFactor = new Histogram({
    name: 'piper_real_time_factor',
    help: 'Synthesis time divided by audio duration of completed syntheses (below 1 is faster than real time), by voice',
    labelNames: ['voice'] as const,
    buckets: REAL_TIME_FACTOR_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** A counter registered on this server's registry. */
  counter<L extends string = never>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** A gauge whose value is read when Prometheus scrapes. */
  gauge(name: string, help: string, read: () => number): void {
    const collect: CollectFunction<Gauge> = function () {
      this.set(read());
    };
    new Gauge({ name, help, registers: [this.registry], collect });
  }

  /**
   * A counter of something counted elsewhere since the server started (workers
   * replaced, preemptions), brought up to that count when Prometheus scrapes: a
   * counter, not a gauge, so that `rate()` and `increase()` work on it.
   */
  countedTotal(name: string, help: string, read: () => number): void {
    this.labelledCountedTotal(name, help, undefined, () => ({ '': read() }));
  }

  /** The same, with one label: a count per label value. */
  labelledCountedTotal<L extends string>(
    name: string,
    help: string,
    labelName: L | undefined,
    read: () => Record<string, number>,
  ): void {
    const reported = new Map<string, number>();
    const collect: CollectFunction<Counter<L>> = function () {
      for (const [label, count] of Object.entries(read())) {
        const increase = count - (reported.get(label) ?? 0);
        if (increase <= 0) continue;
        reported.set(label, count);
        if (labelName === undefined) this.inc(increase);
        else this.inc({ [labelName]: label } as Record<L, string>, increase);
      }
    };
    const labelNames = labelName === undefined ? [] : [labelName];
    new Counter({ name, help, labelNames, registers: [this.registry], collect });
  }

  /** A gauge with labels, all of whose values are read when Prometheus scrapes. */
  labelledGauge<L extends string>(
    name: string,
    help: string,
    labelName: L,
    read: () => Record<string, number>,
  ): void {
    const collect: CollectFunction<Gauge<L>> = function () {
      this.reset();
      for (const [label, value] of Object.entries(read())) {
        this.set({ [labelName]: label } as Record<L, string>, value);
      }
    };
    new Gauge({ name, help, labelNames: [labelName], registers: [this.registry], collect });
  }

  /** Records a completed synthesis. */
  observeSynthesis(voice: string, wallSeconds: number, audioSeconds: number): void {
    this.synthesisSeconds.observe({ voice }, wallSeconds);
    this.audioSeconds.inc({ voice }, audioSeconds);
    if (audioSeconds > 0) this.realTimeFactor.observe({ voice }, wallSeconds / audioSeconds);
  }
}
