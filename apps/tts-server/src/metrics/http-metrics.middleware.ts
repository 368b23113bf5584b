import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { MetricsService } from './metrics.service';

/**
 * Counts every response and times it, labelled by the route's pattern (`/tts`,
 * `/model_card/:model`), never the raw path: a label per distinct URL would grow
 * without bound. Requests no route matched share one label.
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(request: Request, response: Response, next: NextFunction): void {
    const started = process.hrtime.bigint();
    response.once('finish', () => {
      const routePath = (request.route as { path?: unknown } | undefined)?.path;
      const route = typeof routePath === 'string' ? routePath : '(unmatched)';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.httpRequests.inc({
        method: request.method,
        route,
        status: String(response.statusCode),
      });
      this.metrics.httpDuration.observe({ method: request.method, route }, seconds);
    });
    next();
  }
}
