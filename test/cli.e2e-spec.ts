/**
 * The piper-server command line, run in-process through the same entry point the
 * binary uses (runCli), with stdin/stdout/stderr captured.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav } from '@app/piper';
import { runCli, type CliIo } from '../apps/cli/src/cli';

interface Run {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

async function run(args: string[], stdin = ''): Promise<Run> {
  const stdout: Buffer[] = [];
  const stderr: string[] = [];
  const io: CliIo = {
    readStdin: () => Promise.resolve(stdin),
    writeStdout: (data) => stdout.push(Buffer.from(data)),
    writeStderr: (line) => stderr.push(line),
  };
  const exitCode = await runCli(args, io);
  return { exitCode, stdout: Buffer.concat(stdout), stderr: stderr.join('\n') };
}

describe('piper-server CLI', () => {
  let dir: string;
  let model: string;
  let multiModel: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'piper-cli-'));
    const made = await run(['make-test-voice', '--out', dir]);
    expect(made.exitCode).toBe(0);
    model = join(dir, 'test-voice.onnx');
    const madeMulti = await run([
      'make-test-voice',
      '--out',
      dir,
      '--name',
      'duo',
      '--speakers',
      '2',
    ]);
    expect(madeMulti.exitCode).toBe(0);
    multiModel = join(dir, 'duo.onnx');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('make-test-voice writes the network and its config', async () => {
    expect((await stat(model)).size).toBeGreaterThan(0);
    const config = JSON.parse(await readFile(`${multiModel}.json`, 'utf8')) as {
      num_speakers: number;
    };
    expect(config.num_speakers).toBe(2);
  });

  it('synth writes a WAV file of the spoken text', async () => {
    const output = join(dir, 'hello.wav');
    const result = await run([
      'synth',
      '--model',
      model,
      '--text',
      'Hello world.',
      '--output',
      output,
    ]);
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
    const wav = decodeWav(await readFile(output));
    expect(wav.sampleRate).toBe(22050);
    expect(wav.channels).toBe(1);
    expect(wav.pcm.length % 1024).toBe(0);
    expect(wav.pcm.length).toBeGreaterThan(20 * 1024);
  });

  it('synth reads stdin, writes raw PCM, and honours scales, speaker and silence', async () => {
    const base = await run(['synth', '-m', multiModel, '-o', '-', '-f', 'pcm'], 'Hi.');
    expect(base.exitCode).toBe(0);
    const slower = await run(
      [
        'synth',
        '-m',
        multiModel,
        '-o',
        '-',
        '-f',
        'pcm',
        '--length-scale',
        '1.5',
        '--sentence-silence',
        '0.1',
      ],
      'Hi.',
    );
    expect(slower.stdout.length).toBe(base.stdout.length * 1.5 + 2205 * 2);
    const otherSpeaker = await run(
      ['synth', '-m', multiModel, '-o', '-', '-f', 'pcm', '--speaker', '1'],
      'Hi.',
    );
    expect(otherSpeaker.stdout.length).toBe(base.stdout.length);
    expect(otherSpeaker.stdout.equals(base.stdout)).toBe(false);
  });

  it('phonemize prints one JSON object per sentence', async () => {
    const result = await run(['phonemize', '--model', model], 'Test 1. Test 2.');
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.toString('utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]) as { phonemes: string[]; phoneme_ids: number[] };
    expect(first.phonemes.join('')).toBe('tˈɛst wˈʌn.');
    expect(first.phoneme_ids.slice(0, 4)).toEqual([1, 0, 32, 0]);
    expect(first.phoneme_ids).toHaveLength(2 * first.phonemes.length + 3);
  });

  it('fails with one clear line on stderr and a non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['synth', '-m', join(dir, 'missing.onnx'), '-t', 'hi', '-o', '-'],
        /missing\.onnx\.json: file not found/,
      ],
      [
        ['synth', '-m', model, '-t', 'hi', '-o', '-', '--length-scale', 'abc'],
        /--length-scale must be a number/,
      ],
      [['synth', '-m', model, '-t', '   ', '-o', '-'], /text is empty/],
      [
        ['synth', '-m', multiModel, '-t', 'hi', '-o', '-', '--speaker', '7'],
        /speaker "7" not found/,
      ],
      [['synth', '-m', model, '-t', 'hi', '-o', join(dir, 'no', 'such', 'dir', 'x.wav')], /ENOENT/],
      [['synth', '-t', 'hi', '-o', '-'], /--model/],
      [['no-such-command'], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
