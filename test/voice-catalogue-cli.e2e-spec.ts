/**
 * `piper-server voices list` and `voices download`, run in-process through runCli (as
 * the binary runs it) against a catalogue served on loopback; without a terminal the
 * progress is plain lines on stderr, and every failure is one line and a non-zero exit.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { freePort } from './support/processes';
import { join } from 'node:path';
import { runCli, type CliIo } from '../apps/cli/src/cli';
import {
  startVoiceCatalogueServer,
  type VoiceCatalogueServer,
} from './support/voice-catalogue-server';

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string[];
}

describe('piper-server voices', () => {
  let workDir: string;
  let modelDir: string;
  let server: VoiceCatalogueServer;

  const run = async (args: string[], env: Record<string, string> = {}): Promise<Run> => {
    const stdout: Buffer[] = [];
    const stderr: string[] = [];
    const io: CliIo = {
      readStdin: () => Promise.resolve(''),
      writeStdout: (data) => stdout.push(Buffer.from(data)),
      writeStderr: (line) => stderr.push(line),
      env,
      retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
    };
    const exitCode = await runCli(args, io);
    return { exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr };
  };
  const flags = (): string[] => ['--model-dir', modelDir, '--base-url', server.baseUrl];

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'voices-cli-'));
    modelDir = join(workDir, 'models');
    server = await startVoiceCatalogueServer(join(workDir, 'source'), [
      { name: 'en_US-good-medium' },
      { name: 'en_GB-multi-low', speakers: 3 },
      { name: 'en_GB-corrupt-medium', faults: { 'en_GB-corrupt-medium.onnx': { corrupt: true } } },
    ]);
  });

  afterAll(async () => {
    await server.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('lists nothing installed, then the catalogue with size, quality, speakers', async () => {
    const installed = await run(['voices', 'list', ...flags()]);
    expect(installed).toEqual({
      exitCode: 0,
      stdout: `no voices installed in ${modelDir}; \`piper-server voices list --available\` lists the catalogue\n`,
      stderr: [],
    });

    const available = await run([
      'voices',
      'list',
      '--available',
      '--language',
      'en_GB',
      ...flags(),
    ]);
    expect(available.exitCode).toBe(0);
    const lines = available.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.split(/\s+/))).toEqual([
      ['NAME', 'LANGUAGE', 'QUALITY', 'SPEAKERS', 'SIZE', 'INSTALLED'],
      ['en_GB-corrupt-medium', 'en_GB', 'medium', '1', expect.any(String), 'kB', 'no'],
      ['en_GB-multi-low', 'en_GB', 'low', '3', expect.any(String), 'kB', 'no'],
    ]);
  });

  it('downloads voices with progress lines, then lists them as installed', async () => {
    // MODEL_DIR and VOICES_BASE_URL from the environment are the flags' defaults.
    const result = await run(['voices', 'download', 'en_US-good-medium', 'en_GB-multi-low'], {
      MODEL_DIR: modelDir,
      VOICES_BASE_URL: server.baseUrl,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      `en_US-good-medium: installed in ${join(modelDir, 'en_US-good-medium')}\n` +
        `en_GB-multi-low: installed in ${join(modelDir, 'en_GB-multi-low')}\n`,
    );
    expect(result.stderr).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^downloading en_US-good-medium\.onnx \(\d+\.\d kB\)$/),
        expect.stringMatching(/^verified en_US-good-medium\.onnx: \d+\.\d kB, size and md5 match/),
        expect.stringMatching(/^verified en_GB-multi-low\.onnx\.json: /),
      ]),
    );

    const installed = await run(['voices', 'list', ...flags()]);
    expect(
      installed.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]),
    ).toEqual(['NAME', 'en_GB-multi-low', 'en_US-good-medium']);
    const available = await run(['voices', 'list', '--available', ...flags()]);
    expect(available.stdout).toMatch(/^en_US-good-medium .* yes$/m);

    const again = await run(['voices', 'download', 'en_US-good-medium', ...flags()]);
    expect(again.stdout).toBe(
      `en_US-good-medium: already installed in ${join(modelDir, 'en_US-good-medium')}\n`,
    );
  });

  it('fails with one line and exit 2 for a name not in the catalogue, downloading nothing', async () => {
    const before = server.requests.length;
    const result = await run([
      'voices',
      'download',
      'en_US-good-medium',
      'en_GB-mutli-low',
      ...flags(),
    ]);
    expect(result).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: [
        'error: voice "en_GB-mutli-low" is not in the catalogue; close names: en_GB-multi-low',
      ],
    });
    expect(server.requests.length).toBe(before);
  });

  it('fails with one line and exit 1 on a checksum mismatch, leaving no file behind', async () => {
    const result = await run(['voices', 'download', 'en_GB-corrupt-medium', ...flags()]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.pop()).toMatch(
      /^error: checksum mismatch for en_GB-corrupt-medium\.onnx: md5 [0-9a-f]{32}, the catalogue lists [0-9a-f]{32}; nothing was installed$/,
    );
    expect((await readdir(modelDir)).sort()).toEqual([
      '.catalogue',
      'en_GB-multi-low',
      'en_US-good-medium',
    ]);
  });

  it('goes on with the other voices when one fails, then exits 1 with a summary', async () => {
    const result = await run([
      'voices',
      'download',
      'en_GB-corrupt-medium',
      'en_US-good-medium',
      ...flags(),
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe(
      `en_US-good-medium: already installed in ${join(modelDir, 'en_US-good-medium')}\n`,
    );
    expect(result.stderr.filter((line) => line.startsWith('error: '))).toEqual([
      expect.stringMatching(/^error: checksum mismatch for en_GB-corrupt-medium\.onnx: /),
      `error: 1 of 2 voices could not be installed in ${modelDir}`,
    ]);
  });

  it('fails with one line when the catalogue server cannot be reached', async () => {
    const result = await run([
      'voices',
      'list',
      '--available',
      '--model-dir',
      join(workDir, 'elsewhere'),
      '--base-url',
      `http://127.0.0.1:${await freePort()}/voices`,
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toEqual([
      expect.stringMatching(
        /^error: no network: cannot download http:\/\/127\.0\.0\.1:\d+\/voices\/voices\.json \(ECONNREFUSED, 2 attempts\); check the connection or VOICES_BASE_URL$/,
      ),
    ]);
  });
});
