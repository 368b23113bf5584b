/**
 * The mDNS announcement Home Assistant discovers Wyoming services by: `_wyoming._tcp`
 * with the server's port, as wyoming-piper announces itself (wyoming's zeroconf.py).
 * @homebridge/ciao does the multicast (an RFC 6762/6763 responder: probing, conflict
 * renaming, re-announcing when interfaces change). Nothing is announced unless
 * WYOMING_ZEROCONF is on, and an announcement that fails (no multicast route, a
 * container without a network) is one warning: the Wyoming port serves regardless.
 */
import { Injectable, Logger } from '@nestjs/common';
import { getResponder, type CiaoService, type Responder } from '@homebridge/ciao';
import { hostname } from 'node:os';
import { Settings } from '../config/settings';

/** DNS-SD instance names are at most 63 bytes. */
const MAX_NAME_BYTES = 63;
/** Longest a shutdown waits for the mDNS goodbye packets. */
const WITHDRAW_TIMEOUT_MS = 2000;

@Injectable()
export class WyomingZeroconf {
  private readonly logger = new Logger(WyomingZeroconf.name);
  private responder: Responder | undefined;
  private service: CiaoService | undefined;

  constructor(private readonly settings: Settings) {}

  /** Whether an announcement was started (and not withdrawn). */
  get announced(): boolean {
    return this.service !== undefined;
  }

  /** The announced instance name: WYOMING_ZEROCONF_NAME, else `piper-<host name>`. */
  get name(): string {
    const name = this.settings.WYOMING_ZEROCONF_NAME ?? `piper-${hostname()}`;
    return Buffer.from(name)
      .subarray(0, MAX_NAME_BYTES)
      .toString('utf8')
      .replace(/\uFFFD$/, '');
  }

  /** Starts announcing `port`; returns at once (the announcement settles in the background). */
  announce(port: number): void {
    try {
      this.responder = getResponder();
      this.service = this.responder.createService({
        name: this.name,
        type: 'wyoming', // over TCP, ciao's default protocol
        port,
      });
      this.service.advertise().then(
        () => this.logger.log(`announced "${this.name}" as _wyoming._tcp on port ${port} (mDNS)`),
        (error: unknown) => this.failed(error),
      );
    } catch (error) {
      this.failed(error);
    }
  }

  /** Sends the goodbye packets and closes the multicast sockets. */
  async withdraw(): Promise<void> {
    const { responder, service } = this;
    this.responder = undefined;
    this.service = undefined;
    if (!responder) return;
    const withdrawal = (async () => {
      await service?.end();
      await responder.shutdown();
    })().catch((error: unknown) =>
      this.logger.warn(`withdrawing the mDNS announcement failed: ${describe(error)}`),
    );
    // Without a multicast interface ciao's goodbye never settles: shutdown does not wait.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      withdrawal,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, WITHDRAW_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }

  private failed(error: unknown): void {
    this.logger.warn(
      `WYOMING_ZEROCONF: the mDNS announcement failed (${describe(error)}); ` +
        'the Wyoming port still serves: add it in Home Assistant by host and port',
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
