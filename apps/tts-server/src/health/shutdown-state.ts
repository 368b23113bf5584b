import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';

/**
 * Turns readiness false as soon as shutdown begins (SIGTERM), before the HTTP server
 * stops accepting, so a load balancer stops routing here while requests drain.
 */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown {
  shuttingDown = false;

  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }
}
