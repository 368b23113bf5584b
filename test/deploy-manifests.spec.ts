/**
 * The deployment files against the server they deploy. Every YAML file under
 * deploy/kubernetes/, docker-compose.yml, the compose load balancer's haproxy.cfg and
 * the Dockerfile are parsed, and what they say about the server is checked against the
 * real thing:
 *
 * - every probe, health check and scrape path is a route the started app answers with
 *   200, with the Secret's API keys set as deployed (probes must not need a key), and
 *   the readiness path turns 503 at shutdown while the liveness path stays 200, and the
 *   image's HEALTHCHECK command itself succeeds against the server;
 * - every port agrees with PORT (the ConfigMap's, else the default);
 * - every environment variable is a setting the server reads, with a value it accepts;
 * - the shutdown budgets (terminationGracePeriodSeconds, stop_grace_period) exceed
 *   SHUTDOWN_TIMEOUT_MS, and the load balancer waits longer than SYNTH_TIMEOUT_MS;
 * - volumes are mounted where MODEL_DIR (read-only) and CACHE_DIR point;
 * - the image runs files the build produces, from packages `npm ci --omit=dev` installs.
 *
 * No container runs here (no Docker or cluster on the test machines): these are the
 * facts a wrong manifest gets wrong, checked without one.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { parseAllDocuments } from 'yaml';
import { validateSettings } from '../apps/tts-server/src/config/settings';
import { ShutdownState } from '../apps/tts-server/src/health/shutdown-state';
import { listenOnLoopback } from './support/processes';
import { makeModelDir, removeDir, startServer } from './support/test-server';

const ROOT = join(__dirname, '..');
const K8S_DIR = join(ROOT, 'deploy/kubernetes');

// --- reading the files -------------------------------------------------------------

const where = (file: string): string => relative(ROOT, file);
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return yamlFilesUnder(path);
      return /\.ya?ml$/.test(entry.name) ? [path] : [];
    })
    .sort();
}

/** Every document of a YAML file (merge keys `<<` resolved); a syntax error throws. */
function parseYaml(file: string): unknown[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  const values: unknown[] = [];
  for (const document of documents) {
    const [error] = document.errors;
    if (error) throw new Error(`${where(file)}: ${error.message}`);
    const value: unknown = document.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

interface HttpProbe {
  httpGet?: { path?: string; port?: number | string };
  periodSeconds?: number;
}

interface Container {
  name: string;
  image?: string;
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe?: HttpProbe;
  livenessProbe?: HttpProbe;
  readinessProbe?: HttpProbe;
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    terminationGracePeriodSeconds?: number;
    containers: Container[];
    volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[];
  };
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    template?: PodTemplate;
    ports?: { port: number; targetPort: number | string }[];
    selector?: Record<string, unknown>;
    scaleTargetRef?: { kind: string; name: string };
  };
  resources?: string[];
}

interface ComposeService {
  build?: unknown;
  image?: string;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: string[];
  healthcheck?: { test?: string | string[] };
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
}

interface Compose {
  services: Record<string, ComposeService>;
}

const manifestFiles = yamlFilesUnder(K8S_DIR);
const manifests = manifestFiles.flatMap((file) =>
  parseYaml(file).map((value) => ({ file: where(file), manifest: value as Manifest })),
);
const objects = manifests.filter(({ manifest }) => manifest.kind !== 'Kustomization');

function theOne(kind: string, name?: string): Manifest {
  const found = objects.filter(
    ({ manifest }) => manifest.kind === kind && (!name || manifest.metadata.name === name),
  );
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  }
  return found[0].manifest;
}

function theKustomization(): Manifest {
  const found = manifests.filter(
    ({ manifest, file }) =>
      manifest.kind === 'Kustomization' && file === 'deploy/kubernetes/kustomization.yaml',
  );
  if (found.length !== 1) throw new Error('deploy/kubernetes/kustomization.yaml is missing');
  return found[0].manifest;
}

/** The Deployment of the server: the one whose pods take their settings from a ConfigMap. */
const serverDeployment = ((): Manifest => {
  const found = objects.filter(({ manifest }) =>
    manifest.spec?.template?.spec.containers.some((container) =>
      container.envFrom?.some((source) => source.configMapRef),
    ),
  );
  if (found.length !== 1) throw new Error(`expected one server Deployment, found ${found.length}`);
  return found[0].manifest;
})();
const podTemplate = serverDeployment.spec!.template!;
const serverContainer = podTemplate.spec.containers[0];
const configMapName = serverContainer.envFrom!.find((source) => source.configMapRef)!.configMapRef!
  .name;
const secretName = serverContainer.envFrom!.find((source) => source.secretRef)?.secretRef?.name;
const configMap = theOne('ConfigMap', configMapName);
const secret = secretName ? theOne('Secret', secretName) : undefined;
const secretData: Record<string, string> = {
  ...Object.fromEntries(
    Object.entries(secret?.data ?? {}).map(([name, value]) => [
      name,
      Buffer.from(value, 'base64').toString('utf8'),
    ]),
  ),
  ...(secret?.stringData ?? {}),
};
/** What the server's container sees in its environment, as deployed. */
const podEnvironment: Record<string, string> = {
  ...configMap.data,
  ...secretData,
  ...Object.fromEntries((serverContainer.env ?? []).map(({ name, value }) => [name, value ?? ''])),
};

const compose = parseYaml(join(ROOT, 'docker-compose.yml'))[0] as Compose;
const composeServer = compose.services.tts;
const composeInit = compose.services['voices-init'];

/** Compose's `${VAR:-default}` / `${VAR-default}` / `${VAR}`, as with VAR unset. */
const interpolate = (value: string): string =>
  value.replace(/\$\{\w+(?::?-([^}]*))?\}/g, (_match, fallback?: string) => fallback ?? '');

function composeEnvironment(service: ComposeService): Record<string, string> {
  const environment = service.environment ?? {};
  const pairs = Array.isArray(environment)
    ? environment.map((item) => {
        const at = item.indexOf('=');
        return [item.slice(0, at), item.slice(at + 1)];
      })
    : Object.entries(environment).map(([name, value]) => [name, String(value ?? '')]);
  return Object.fromEntries(pairs.map(([name, value]) => [name, interpolate(value)]));
}
const composeServerEnvironment = composeEnvironment(composeServer);

const haproxyConfig = read('deploy/compose/haproxy.cfg');

/** The Dockerfile as instructions, continuation lines joined, comments dropped. */
const dockerInstructions = read('Dockerfile')
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
  .map((line) => {
    const space = line.indexOf(' ');
    return { keyword: line.slice(0, space).toUpperCase(), argument: line.slice(space + 1).trim() };
  });
const dockerInstruction = (keyword: string): string[] =>
  dockerInstructions.filter((line) => line.keyword === keyword).map((line) => line.argument);
/** The runtime stage: everything after the last FROM. */
const runtimeStage = dockerInstructions.slice(
  dockerInstructions.map((line) => line.keyword).lastIndexOf('FROM'),
);

const packageJson = JSON.parse(read('package.json')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

// --- what the files say --------------------------------------------------------------

const defaults = validateSettings({});
const configuredPort = Number(configMap.data?.PORT ?? defaults.PORT);
const shutdownTimeoutSeconds =
  Number(podEnvironment.SHUTDOWN_TIMEOUT_MS ?? defaults.SHUTDOWN_TIMEOUT_MS) / 1000;

function resolvePort(container: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

const probes = (['startupProbe', 'livenessProbe', 'readinessProbe'] as const).map((kind) => ({
  kind,
  probe: serverContainer[kind],
}));

/** The path of an http(s) URL and its port, wherever it is written. */
function urlIn(text: string): { port: number | undefined; path: string } {
  const match = /https?:\/\/[^/:'"\s]+(?::(\d+))?(\/[^'"\s)]*)/.exec(text);
  if (!match) throw new Error(`no URL in ${text}`);
  return { port: match[1] ? Number(match[1]) : undefined, path: match[2] };
}

const dockerHealthcheck = dockerInstruction('HEALTHCHECK').join(' ');
const composeHealthcheck = [composeServer.healthcheck?.test ?? []].flat().join(' ');

function haproxySetting(pattern: RegExp): RegExpExecArray {
  const match = pattern.exec(haproxyConfig);
  if (!match) throw new Error(`deploy/compose/haproxy.cfg has no ${String(pattern)}`);
  return match;
}

/** Every HTTP path something outside the app asks for, with who asks. */
const probedPaths: [string, string][] = [
  ...probes.map(({ kind, probe }): [string, string] => [
    probe?.httpGet?.path ?? '(none)',
    `deployment ${kind}`,
  ]),
  [podTemplate.metadata?.annotations?.['prometheus.io/path'] ?? '(none)', 'prometheus.io/path'],
  [/'(\/[^']*)'/.exec(dockerHealthcheck)?.[1] ?? '(none)', 'Dockerfile HEALTHCHECK'],
  [urlIn(composeHealthcheck).path, 'docker-compose.yml tts healthcheck'],
  [haproxySetting(/http-check send meth GET uri (\S+)/)[1], 'haproxy.cfg http-check'],
];

/** Seconds in a compose or haproxy duration: "35s", "1m30s", "90000ms", "90" (seconds). */
const SECONDS_PER_UNIT: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
function seconds(duration: string): number {
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)?/g)) {
    total += Number(amount) * SECONDS_PER_UNIT[unit ?? 's'];
  }
  return total;
}

/** Imported packages of the server, the CLI and the libraries (tests and type-only imports aside). */
function runtimeImports(): Map<string, string> {
  const imports = new Map<string, string>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) {
        const source = readFileSync(path, 'utf8');
        const specifiers = [
          ...source.matchAll(/^\s*import\s+(?!type\s)[^;]*?\sfrom\s+'([^']+)'/gm),
          ...source.matchAll(/^\s*import\s+'([^']+)'/gm),
          // require('x'), import('x'), the libraries' requireNative('x') / resolveNative('x')
          // and createRequire(__filename)('x'). Not require.resolve('x'): the engine
          // resolves ts-node that way only when it runs from source.
          ...source.matchAll(
            /\b(?:require|import|requireNative|resolveNative)(?:<[^(]*>)?\(\s*'([^']+)'/g,
          ),
          ...source.matchAll(/\)\(\s*'([^']+)'\s*\)/g),
        ].map((match) => match[1]);
        for (const specifier of specifiers) {
          if (/^[./]|^@app\//.test(specifier)) continue;
          if (specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
          const parts = specifier.split('/');
          const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
          if (!imports.has(name)) imports.set(name, where(path));
        }
      }
    }
  };
  for (const dir of ['apps/tts-server/src', 'apps/cli/src', 'libs']) visit(join(ROOT, dir));
  return imports;
}

// --- the checks ----------------------------------------------------------------------

describe('Deployment files (Dockerfile, docker-compose.yml, deploy/kubernetes)', () => {
  describe('Kubernetes manifests', () => {
    it('parse into objects with apiVersion, kind and name', () => {
      expect(manifestFiles.length).toBeGreaterThan(0);
      for (const { file, manifest } of objects) {
        expect({ file, apiVersion: manifest.apiVersion, kind: manifest.kind }).toEqual({
          file,
          apiVersion: expect.any(String),
          kind: expect.any(String),
        });
        expect(manifest.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      }
      const kinds = objects.map(({ manifest }) => `${manifest.apiVersion} ${manifest.kind}`);
      expect(kinds).toEqual(
        expect.arrayContaining([
          'apps/v1 Deployment',
          'v1 Service',
          'autoscaling/v2 HorizontalPodAutoscaler',
          'v1 PersistentVolumeClaim',
          'v1 ConfigMap',
          'v1 Secret',
        ]),
      );
    });

    it('kustomization.yaml lists every manifest of its directory, and only existing files', () => {
      const kustomization = theKustomization();
      const listed = [...(kustomization.resources ?? [])].sort();
      const beside = readdirSync(K8S_DIR)
        .filter((name) => /\.ya?ml$/.test(name) && name !== 'kustomization.yaml')
        .sort();
      expect(listed).toEqual(beside);
    });

    it('point the Service, the autoscaler and the voices volume at what exists', () => {
      const service = theOne('Service', 'piper-tts');
      const selector = service.spec!.selector!;
      const podLabels = podTemplate.metadata?.labels;
      expect(podLabels).toMatchObject(selector);
      const autoscaler = theOne('HorizontalPodAutoscaler');
      expect(autoscaler.spec!.scaleTargetRef).toMatchObject({
        kind: 'Deployment',
        name: serverDeployment.metadata.name,
      });
      const claims = (podTemplate.spec.volumes ?? []).flatMap((volume) =>
        volume.persistentVolumeClaim ? [volume.persistentVolumeClaim.claimName] : [],
      );
      for (const claim of claims) expect(theOne('PersistentVolumeClaim', claim)).toBeDefined();
    });
  });

  describe('probe and health-check paths are routes the server answers', () => {
    let modelDir: string;
    let app: NestExpressApplication;
    let baseUrl: string;

    beforeAll(async () => {
      modelDir = await makeModelDir();
      app = await startServer({
        MODEL_DIR: modelDir,
        DEFAULT_MODEL: 'test-voice',
        // As deployed: probes must work with API keys required.
        ...(secretData.API_KEYS ? { API_KEYS: secretData.API_KEYS } : {}),
      });
      baseUrl = await listenOnLoopback(app);
    });

    afterAll(async () => {
      await app?.close();
      if (modelDir) await removeDir(modelDir);
    });

    it('requires an API key for synthesis with the Secret deployed (so the paths below are really open)', async () => {
      expect(secretData.API_KEYS).toBeTruthy();
      const res = await fetch(`${baseUrl}/tts`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: 'Hello.' }),
      });
      expect(res.status).toBe(401);
    });

    it.each(probedPaths)('GET %s (%s) answers 200', async (path) => {
      const res = await fetch(`${baseUrl}${path}`);
      expect(res.status).toBe(200);
    });

    it("the Dockerfile's HEALTHCHECK command (exec form, Node's fetch) succeeds against it", async () => {
      const exec = /\sCMD\s+(\[.*\])\s*$/.exec(dockerHealthcheck)?.[1];
      // Not JSON, Docker would run the text through a shell instead.
      const command = JSON.parse(exec ?? 'null') as string[];
      expect(command[0]).toBe('node');
      const port = new URL(baseUrl).port;
      await expect(
        promisify(execFile)(process.execPath, command.slice(1), {
          env: { PATH: process.env.PATH, PORT: port },
          timeout: 10_000,
        }),
      ).resolves.toBeDefined();
    });

    it('the readiness path turns 503 at shutdown while the liveness path stays 200', async () => {
      const readinessPath = serverContainer.readinessProbe?.httpGet?.path;
      const livenessPath = serverContainer.livenessProbe?.httpGet?.path;
      expect((await fetch(`${baseUrl}${readinessPath}`)).status).toBe(200);
      // What SIGTERM does first, without closing the app under the test.
      app.get(ShutdownState).beforeApplicationShutdown();
      expect((await fetch(`${baseUrl}${readinessPath}`)).status).toBe(503);
      expect((await fetch(`${baseUrl}${livenessPath}`)).status).toBe(200);
      expect((await fetch(`${baseUrl}${serverContainer.startupProbe?.httpGet?.path}`)).status).toBe(
        200,
      );
    });
  });

  it('every port agrees with PORT', () => {
    const service = theOne('Service', 'piper-tts');
    const ports: Record<string, number | undefined> = {
      'ConfigMap PORT (or the default)': configuredPort,
      ...Object.fromEntries(
        probes.map(({ kind, probe }) => [
          `deployment ${kind}`,
          resolvePort(serverContainer, probe?.httpGet?.port),
        ]),
      ),
      ...Object.fromEntries(
        (service.spec!.ports ?? [])
          .filter((port) => port.targetPort !== 'wyoming')
          .map((port) => [
            `Service port ${port.port} targetPort`,
            resolvePort(serverContainer, port.targetPort),
          ]),
      ),
      'prometheus.io/port': Number(podTemplate.metadata?.annotations?.['prometheus.io/port']),
      'Dockerfile EXPOSE': Number(dockerInstruction('EXPOSE')[0]),
      'Dockerfile ENV PORT': Number(/\bPORT=(\d+)/.exec(dockerInstruction('ENV').join(' '))?.[1]),
      'Dockerfile HEALTHCHECK default': Number(
        /process\.env\.PORT \|\| (\d+)/.exec(dockerHealthcheck)?.[1],
      ),
      'docker-compose.yml tts PORT': Number(composeServerEnvironment.PORT ?? defaults.PORT),
      'docker-compose.yml tts healthcheck': urlIn(composeHealthcheck).port,
      'haproxy.cfg server-template': Number(
        haproxySetting(/server-template \S+ \d+ [^:\s]+:(\d+)/)[1],
      ),
    };
    const everyPort = Object.fromEntries(Object.keys(ports).map((place) => [place, 5000]));
    expect(configuredPort).toBe(5000);
    expect(ports).toEqual(everyPort);
    expect(
      serverContainer.ports
        ?.filter(({ name }) => name !== 'wyoming')
        .map((port) => port.containerPort),
    ).toEqual([configuredPort]);
  });

  it('every Wyoming port agrees with WYOMING_PORT, and docker-compose publishes it', () => {
    const wyomingPort = Number(configMap.data?.WYOMING_PORT ?? defaults.WYOMING_PORT);
    const service = theOne('Service', 'piper-tts');
    const servicePort = service.spec!.ports?.find(({ targetPort }) => targetPort === 'wyoming');
    const ports: Record<string, number | undefined> = {
      'deployment containerPort wyoming': resolvePort(serverContainer, 'wyoming'),
      'Service port wyoming': servicePort?.port,
      'Service port wyoming targetPort': resolvePort(serverContainer, servicePort?.targetPort),
      'Dockerfile EXPOSE (second)': Number(dockerInstruction('EXPOSE')[1]),
      'docker-compose.yml tts WYOMING_PORT': Number(
        composeServerEnvironment.WYOMING_PORT ?? defaults.WYOMING_PORT,
      ),
      'docker-compose.yml lb published': Number(
        compose.services.lb?.ports?.find((port) => port.endsWith(`:${wyomingPort}`))?.split(':')[0],
      ),
      'haproxy.cfg wyoming bind': Number(haproxySetting(/frontend wyoming[^]*?bind :(\d+)/)[1]),
      'haproxy.cfg wyoming server-template': Number(
        haproxySetting(/server-template tts-wyoming- \d+ [^:\s]+:(\d+)/)[1],
      ),
    };
    expect(wyomingPort).toBe(10200);
    expect(ports).toEqual(Object.fromEntries(Object.keys(ports).map((place) => [place, 10200])));
    // The Wyoming backend is routed by the HTTP readiness check, on the HTTP port.
    expect(haproxySetting(/backend tts-wyoming[^]*?check port (\d+)/)[1]).toBe(
      String(configuredPort),
    );
  });

  describe('settings', () => {
    const environments: [string, Record<string, string>][] = [
      [`ConfigMap ${configMapName}, Secret ${secretName}, container env`, podEnvironment],
      ['docker-compose.yml tts environment', composeServerEnvironment],
    ];

    it.each(environments)('%s: every variable is a setting of the server', (_, environment) => {
      const unknown = Object.entries(environment)
        .filter(([name, value]) => {
          const settings = validateSettings({ [name]: value }) as unknown as Record<
            string,
            unknown
          >;
          return settings[name] === undefined;
        })
        .map(([name]) => name);
      expect(unknown).toEqual([]);
    });

    it.each(environments)('%s: the server accepts every value', (_, environment) => {
      expect(() => validateSettings(environment)).not.toThrow();
    });

    it('the Secret holds API_KEYS only, and the ConfigMap none', () => {
      expect(Object.keys(secretData)).toEqual(['API_KEYS']);
      expect(configMap.data).not.toHaveProperty('API_KEYS');
    });
  });

  describe('graceful shutdown fits the budgets around it', () => {
    it('terminationGracePeriodSeconds covers the preStop pause and SHUTDOWN_TIMEOUT_MS', () => {
      const preStop = serverContainer.lifecycle?.preStop?.exec?.command ?? [];
      const pauseSeconds = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
      expect(podTemplate.spec.terminationGracePeriodSeconds).toBeGreaterThan(
        pauseSeconds + shutdownTimeoutSeconds,
      );
    });

    it("docker-compose.yml's stop_grace_period exceeds SHUTDOWN_TIMEOUT_MS", () => {
      const composeShutdownSeconds =
        Number(composeServerEnvironment.SHUTDOWN_TIMEOUT_MS ?? defaults.SHUTDOWN_TIMEOUT_MS) / 1000;
      expect(seconds(composeServer.stop_grace_period ?? '10s')).toBeGreaterThan(
        composeShutdownSeconds,
      );
    });

    it("the load balancer's server timeout exceeds SYNTH_TIMEOUT_MS", () => {
      const synthTimeoutSeconds =
        Number(composeServerEnvironment.SYNTH_TIMEOUT_MS ?? defaults.SYNTH_TIMEOUT_MS) / 1000;
      expect(seconds(haproxySetting(/timeout server (\S+)/)[1])).toBeGreaterThan(
        synthTimeoutSeconds,
      );
    });
  });

  describe('volumes are where the settings point', () => {
    it('Kubernetes: voices read-only at MODEL_DIR, a writable volume at CACHE_DIR', () => {
      const mounts = serverContainer.volumeMounts ?? [];
      const voices = mounts.find((mount) => mount.mountPath === podEnvironment.MODEL_DIR);
      expect(voices).toMatchObject({ readOnly: true });
      const voicesVolume = podTemplate.spec.volumes?.find((volume) => volume.name === voices?.name);
      expect(voicesVolume?.persistentVolumeClaim).toBeDefined();
      if (podEnvironment.CACHE_DIR) {
        const cache = mounts.find((mount) => mount.mountPath === podEnvironment.CACHE_DIR);
        expect(cache).toBeDefined();
        expect(cache?.readOnly).toBeFalsy();
      }
    });

    it('docker-compose.yml: models read-only at MODEL_DIR, the cache at CACHE_DIR, written by voices-init', () => {
      const mounts = (composeServer.volumes ?? []).map((volume) => volume.split(':'));
      const modelDir = composeServerEnvironment.MODEL_DIR;
      const models = mounts.find(([, target]) => target === modelDir);
      expect(models?.[2]).toBe('ro');
      const initMounts = (composeInit.volumes ?? []).map((volume) => volume.split(':'));
      expect(initMounts).toContainEqual([models?.[0], modelDir]);
      expect(mounts.find(([, target]) => target === composeServerEnvironment.CACHE_DIR)).toEqual([
        expect.any(String),
        composeServerEnvironment.CACHE_DIR,
      ]);
      expect(composeServer.depends_on).toMatchObject({
        'voices-init': { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
      });
      expect(composeServerEnvironment.REDIS_URL).toMatch(/^redis:\/\/redis:\d+$/);
    });
  });

  describe('the image', () => {
    it('starts the server the way `npm run start:prod` does', () => {
      const runtimeCommand = runtimeStage.filter((line) => line.keyword === 'CMD').at(-1);
      const startProd = packageJson.scripts['start:prod'].split(' ');
      expect(JSON.parse(runtimeCommand?.argument ?? '[]')).toEqual(startProd);
    });

    it('writes the test voice with the built command line, where package.json says it is', () => {
      const cli = packageJson.bin['piper-server'];
      const job = theOne('Job');
      const jobCommand = job.spec!.template!.spec.containers[0].command!.join(' ');
      for (const command of [[composeInit.command ?? []].flat().join(' '), jobCommand]) {
        expect(command).toContain(`node ${cli} make-test-voice --out /models`);
      }
    });

    it('runs as a non-root user, with SIGTERM as its stop signal', () => {
      const user = runtimeStage.filter((line) => line.keyword === 'USER').at(-1)?.argument;
      expect(user).toBeDefined();
      expect(user).not.toMatch(/^(root|0)(:|$)/);
      expect(dockerInstruction('STOPSIGNAL')).toEqual(['SIGTERM']);
    });

    it('installs production dependencies only, and every package the server imports is one', () => {
      expect(dockerInstruction('RUN').join('\n')).toMatch(/npm ci --omit=dev/);
      const lock = JSON.parse(read('package-lock.json')) as {
        packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
      };
      const imports = runtimeImports();
      // The scan sees the engine's packages, however each is loaded.
      expect([...imports.keys()]).toEqual(
        expect.arrayContaining([
          'onnxruntime-node',
          '@echogarden/espeak-ng-emscripten',
          '@evan/opus',
          'libflacjs',
          '@mediabunny/aac-encoder',
          '@nestjs/core',
        ]),
      );
      const notInstalled = [...imports]
        .filter(([name]) => {
          const entry = lock.packages[`node_modules/${name}`];
          return !entry || entry.dev === true || entry.devOptional === true;
        })
        .map(([name, file]) => `${name} (imported by ${file})`);
      expect(notInstalled).toEqual([]);
    });
  });
});
