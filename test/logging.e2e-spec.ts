/**
 * Structured logs: the built server prints JSON lines, and every line a request causes
 * (its completion, a worker killed for it, its error) carries the request's id.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchVoice, writeTestVoice } from '@app/piper';
import {
  builtServerMissing,
  longText,
  startBuiltServer,
  waitFor,
  type BuiltServer,
} from './support/processes';
import { describeUnless } from './support/skips';
import { removeDir } from './support/test-server';

interface LogLine {
  level: string;
  msg: string;
  requestId?: string;
  res?: { statusCode: number };
}

const describeBuilt = describeUnless(builtServerMissing());

describeBuilt('JSON logs with request ids (built server)', () => {
  let modelDir: string;
  let server: BuiltServer;

  beforeAll(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'logging-e2e-'));
    await writeTestVoice(modelDir);
    await writeBenchVoice(modelDir);
    server = await startBuiltServer(
      {
        MODEL_DIR: modelDir,
        DEFAULT_MODEL: 'test-voice',
        WORKERS: '1',
        LOG_LEVEL: 'log',
        SYNTH_TIMEOUT_MS: '300',
        MAX_TEXT_LENGTH: '5000',
      },
      modelDir,
    );
  });

  afterAll(async () => {
    server.process.kill('SIGTERM');
    await server.exited;
    await removeDir(modelDir);
  });

  function lines(): LogLine[] {
    return server
      .output()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as LogLine);
  }

  /** The request's lines, once its completion line is printed (just after the response). */
  async function linesOf(requestId: string): Promise<LogLine[]> {
    await waitFor(`the completion line of ${requestId}`, () =>
      lines().some((line) => line.requestId === requestId && line.msg === 'request completed'),
    );
    return lines().filter((line) => line.requestId === requestId);
  }

  it('prints only JSON lines, one per finished request, with the caller’s X-Request-Id', async () => {
    const res = await fetch(`${server.url}/tts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-me-0001' },
      body: JSON.stringify({ text: 'Hello there.' }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(await linesOf('trace-me-0001')).toEqual([
      expect.objectContaining({
        level: 'info',
        msg: 'request completed',
        res: { statusCode: 200 },
      }),
    ]);
  });

  it('puts the request id on every line the request causes, down to the worker pool', async () => {
    const res = await fetch(`${server.url}/tts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'slow-request-42' },
      body: JSON.stringify({ text: longText('Timeout', 3000), model: 'bench-voice' }),
    });
    expect(res.status).toBe(504);
    const mine = await linesOf('slow-request-42');
    // The pool killing the worker, the filter reporting the 504, the completion line.
    expect(mine.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/ran past 300 ms; killing and replacing/),
        expect.stringMatching(/504 SYNTHESIS_TIMEOUT/),
        'request completed',
      ]),
    );
    expect(lines().some((line) => /API key|authorization/i.test(JSON.stringify(line)))).toBe(false);
  });
});
