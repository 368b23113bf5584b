/**
 * A Piper voice catalogue on loopback for tests: generated test voices laid out as in
 * rhasspy/piper-voices (`<family>/<lang>_<REGION>/<dataset>/<quality>/`), a voices.json
 * listing their sizes and md5s (docs/PIPER.md §1), and faults configured per file path:
 * bytes other than the catalogue's, a 404, transient 503s, and connections dropped
 * after half the bytes for the first N requests. Range requests are honoured, as
 * Hugging Face does, so resumed downloads can be observed.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeTestVoice } from '@app/piper';

export interface FileFault {
  /** Serve the file with one byte changed (the catalogue keeps the real md5). */
  corrupt?: boolean;
  /** Answer 404. */
  notFound?: boolean;
  /** Drop the connection after half the bytes for this many requests. */
  dropFirst?: number;
  /** Answer 503 for this many requests. */
  unavailableFirst?: number;
  /** List this size in voices.json instead of the real one. */
  listedSize?: number;
  /** Answer only once this settles (a download that is still in progress). */
  holdUntil?: Promise<void>;
}

export interface CatalogueVoiceSpec {
  name: string;
  speakers?: number;
  /** Faults by file name (`<voice>.onnx`, `<voice>.onnx.json`, `MODEL_CARD`). */
  faults?: Record<string, FileFault>;
}

export interface ServedRequest {
  path: string;
  range?: string;
  status: number;
}

export interface VoiceCatalogueServer {
  baseUrl: string;
  /** Every request, in order. */
  requests: ServedRequest[];
  /** The catalogue path of a voice's file, e.g. `en/en_US/good/medium/en_US-good-medium.onnx`. */
  pathOf(voice: string, file: string): string;
  close(): Promise<void>;
}

/** The catalogue lives below a sub-path, as on a mirror: URLs must be built under it. */
const PREFIX = '/piper-voices/';

interface ServedFile {
  bytes: Buffer;
  fault: FileFault;
  served: number;
}

function catalogueDir(name: string): string {
  const [locale, dataset, quality] = name.split('-');
  return `${locale.split('_')[0]}/${locale}/${dataset}/${quality}`;
}

/** Generates the voices into `workDir` and serves them with voices.json on 127.0.0.1. */
export async function startVoiceCatalogueServer(
  workDir: string,
  voices: readonly CatalogueVoiceSpec[],
): Promise<VoiceCatalogueServer> {
  const files = new Map<string, ServedFile>();
  const catalogue: Record<string, unknown> = {};
  for (const spec of voices) {
    const written = await writeTestVoice(join(workDir, spec.name), {
      name: spec.name,
      speakers: spec.speakers ?? 1,
    });
    const [locale, dataset, quality] = spec.name.split('-');
    const contents: Record<string, Buffer> = {
      [`${spec.name}.onnx`]: await readFile(written.modelPath),
      [`${spec.name}.onnx.json`]: await readFile(written.configPath),
      MODEL_CARD: Buffer.from(`# ${spec.name}\n\nDataset: ${dataset} (generated for tests)\n`),
    };
    const listed: Record<string, { size_bytes: number; md5_digest: string }> = {};
    for (const [fileName, bytes] of Object.entries(contents)) {
      const path = `${catalogueDir(spec.name)}/${fileName}`;
      const fault = spec.faults?.[fileName] ?? {};
      const served = Buffer.from(bytes);
      if (fault.corrupt) served[served.length >> 1] ^= 0xff;
      files.set(path, { bytes: served, fault, served: 0 });
      listed[path] = {
        size_bytes: fault.listedSize ?? bytes.length,
        md5_digest: createHash('md5').update(bytes).digest('hex'),
      };
    }
    const speakers = spec.speakers ?? 1;
    catalogue[spec.name] = {
      key: spec.name,
      name: dataset,
      language: {
        code: locale,
        family: locale.split('_')[0],
        region: locale.split('_')[1],
        name_native: locale,
        name_english: locale,
        country_english: locale,
      },
      quality,
      num_speakers: speakers,
      speaker_id_map:
        speakers > 1
          ? Object.fromEntries(Array.from({ length: speakers }, (_, id) => [`speaker_${id}`, id]))
          : {},
      files: listed,
      aliases: [`${locale.replace('_', '-').toLowerCase()}-${dataset}-${quality}`],
    };
  }
  const voicesJson = Buffer.from(JSON.stringify(catalogue, null, 2));
  const requests: ServedRequest[] = [];

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const path = pathname.startsWith(PREFIX) ? pathname.slice(PREFIX.length) : pathname;
    const range = request.headers.range;
    const record = (status: number): void => {
      requests.push({ path, range, status });
    };
    if (path === 'voices.json') {
      record(200);
      response.writeHead(200, { 'content-type': 'application/json' }).end(voicesJson);
      return;
    }
    const file = files.get(path);
    if (!file || file.fault.notFound) {
      record(404);
      response.writeHead(404).end('Entry not found');
      return;
    }
    if (file.fault.holdUntil) {
      const held = file.fault.holdUntil;
      file.fault = { ...file.fault, holdUntil: undefined };
      void held.then(() => serve(file));
      return;
    }
    serve(file);

    function serve(file: ServedFile): void {
      file.served++;
      if (file.served <= (file.fault.unavailableFirst ?? 0)) {
        record(503);
        response.writeHead(503).end('try later');
        return;
      }
      let start = 0;
      const match = range ? /^bytes=(\d+)-$/.exec(range) : null;
      if (match && Number(match[1]) < file.bytes.length) start = Number(match[1]);
      const body = file.bytes.subarray(start);
      const status = start > 0 ? 206 : 200;
      record(status);
      response.writeHead(status, {
        'content-type': 'application/octet-stream',
        'content-length': body.length,
        ...(status === 206
          ? { 'content-range': `bytes ${start}-${file.bytes.length - 1}/${file.bytes.length}` }
          : {}),
      });
      if (file.served <= (file.fault.dropFirst ?? 0)) {
        // Half the bytes, then the connection is gone: the client sees a body cut short.
        response.write(body.subarray(0, Math.floor(body.length / 2)), () => {
          response.socket?.destroy();
        });
        return;
      }
      response.end(body);
    }
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}${PREFIX.slice(0, -1)}`,
    requests,
    pathOf: (voice, file) => `${catalogueDir(voice)}/${file}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
