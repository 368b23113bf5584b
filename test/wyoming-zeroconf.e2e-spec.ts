/**
 * Discovery as Home Assistant does it: with WYOMING_ZEROCONF=true the built server is
 * found over mDNS as `_wyoming._tcp` by an independent browser (bonjour-service), at an
 * address and port that answer `describe`, and says goodbye when it stops.
 *
 * Multicast must not leave this machine, so the test makes a network namespace of its
 * own (`unshare -rn`: a user and a network namespace, unprivileged) holding only `lo`,
 * brought up with multicast on and the mDNS group routed to it; the server and the
 * browser (test/support/mdns-browse.ts) both run inside it. Skipped, saying why, where
 * namespaces cannot be made (no unshare or ip, user namespaces not permitted) or the
 * server is not built.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILT_SERVER_MAIN, builtServerMissing } from './support/processes';
import { describeUnless } from './support/skips';
import { makeModelDir, removeDir } from './support/test-server';

/** Inside the namespace: `lo` up, multicast on, the multicast range routed to it. */
const NAMESPACE_NETWORK =
  'ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';
const BROWSE_SCRIPT = join(__dirname, 'support', 'mdns-browse.ts');
const REPO_ROOT = join(__dirname, '..');
/** Bound on the whole exchange (server start, discovery, describe, goodbye). */
const BROWSE_TIMEOUT_MS = 90_000;
/** Jest's bound on the test: the browser's, plus its start and the server's exit. */
const TEST_TIMEOUT_MS = BROWSE_TIMEOUT_MS + 30_000;
const ANNOUNCED_NAME = 'piper-e2e-zeroconf';
/** Inside the namespace nothing else listens: Home Assistant's default port is free. */
const WYOMING_PORT = 10200;

function namespaceMissing(): string | undefined {
  const built = builtServerMissing();
  if (built) return built;
  const probe = spawnSync('unshare', ['-rn', 'sh', '-c', NAMESPACE_NETWORK], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (probe.error) return `unshare cannot run here (${probe.error.message})`;
  if (probe.status !== 0) {
    return `a loopback-only network namespace cannot be made here (unshare -rn: ${probe.stderr.trim()})`;
  }
  return undefined;
}

interface BrowseLine {
  found?: { name: string; type: string; protocol: string; port: number; addresses: string[] };
  info?: { tts: { name: string; voices: { name: string }[] }[] };
  down?: string;
  timeout?: string;
  error?: string;
  serverExit?: number;
}

const describeNamespace = describeUnless(namespaceMissing());

describeNamespace('Wyoming zeroconf discovery (own loopback-only network namespace)', () => {
  let modelDir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    modelDir = await makeModelDir();
  });

  afterEach(() => {
    // Only when a test failed with the namespace's processes still running.
    if (child && child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
    child = undefined;
  });

  afterAll(async () => {
    if (modelDir) await removeDir(modelDir);
  });

  /** Runs the server and the browser in a new namespace; resolves to the browser's lines. */
  function browseInNamespace(serverLog: string): Promise<BrowseLine[]> {
    // $1 node, $2 the server, $3 the browser, $4 the server's log.
    const script = [
      `${NAMESPACE_NETWORK} || exit 97`,
      '"$1" "$2" > "$4" 2>&1 & server=$!',
      `"$1" -r ts-node/register/transpile-only "$3" "$server" ${BROWSE_TIMEOUT_MS}`,
      'wait "$server"; echo "{\\"serverExit\\": $?}"',
    ].join('\n');
    return new Promise((resolve, reject) => {
      const started = spawn(
        'unshare',
        [
          '-rn',
          'sh',
          '-c',
          script,
          'sh',
          process.execPath,
          BUILT_SERVER_MAIN,
          BROWSE_SCRIPT,
          serverLog,
        ],
        {
          cwd: REPO_ROOT,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
            HOST: '127.0.0.1',
            PORT: '8080',
            LOG_LEVEL: 'log',
            MODEL_DIR: modelDir,
            DEFAULT_MODEL: 'test-voice',
            WORKERS: '1',
            WYOMING_PORT: String(WYOMING_PORT),
            WYOMING_ZEROCONF: 'true',
            WYOMING_ZEROCONF_NAME: ANNOUNCED_NAME,
          },
        },
      );
      child = started;
      let stdout = '';
      let stderr = '';
      started.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      started.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      started.on('error', reject);
      started.on('close', (code) => {
        if (code !== 0) {
          reject(new Error(`the namespace's script exited with ${code}: ${stdout}${stderr}`));
          return;
        }
        resolve(
          stdout
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as BrowseLine),
        );
      });
    });
  }

  it(
    'is found as _wyoming._tcp at an address and port that answer describe, and says goodbye on SIGTERM',
    async () => {
      const serverLog = join(modelDir, 'server.log');
      const lines = await browseInNamespace(serverLog);
      const context = `browser: ${JSON.stringify(lines)}\nserver: ${await readFile(serverLog, 'utf8').catch(() => '')}`;

      const found = lines.find((line) => line.found)?.found;
      expect({ found, context }).toMatchObject({
        found: { name: ANNOUNCED_NAME, type: 'wyoming', protocol: 'tcp', port: WYOMING_PORT },
      });
      expect(found!.addresses).toContain('127.0.0.1');

      const info = lines.find((line) => line.info)?.info;
      expect(info?.tts.map((program) => program.name)).toEqual(['piper']);
      expect(info?.tts[0].voices.map((voice) => voice.name)).toEqual(['multi-voice', 'test-voice']);

      // The goodbye (TTL 0) reaches the browser before the process ends, which ends well.
      expect({ down: lines.find((line) => line.down)?.down, context }).toMatchObject({
        down: ANNOUNCED_NAME,
      });
      expect(lines.at(-1)).toEqual({ serverExit: 0 });
    },
    TEST_TIMEOUT_MS,
  );
});
