/**
 * The server's settings: read once from the environment (and `.env`) at boot,
 * converted and validated; a bad value stops the boot with a message naming the
 * variable. Nothing outside config/ reads process.env.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  MinLength,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateBy,
  validateSync,
} from 'class-validator';
import { DEFAULT_VOICES_BASE_URL } from '@app/voice-catalogue';

const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const normalized = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(normalized)) return false;
  return value;
};

const toInteger = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
};

const toList = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : value;

export class Settings {
  @IsString()
  HOST = '0.0.0.0';

  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 5000;

  @Transform(toBoolean)
  @IsBoolean()
  DEBUG = false;

  @IsString()
  MODEL_DIR = './models';

  /**
   * Root of Piper's voice catalogue: `<VOICES_BASE_URL>/voices.json` and every path it
   * lists (docs/PIPER.md §1); default the public piper-voices repository at a pinned revision.
   */
  @Matches(/^https?:\/\/\S+$/, { message: 'VOICES_BASE_URL must be an http:// or https:// URL' })
  VOICES_BASE_URL = DEFAULT_VOICES_BASE_URL;

  /** At start, download DEFAULT_MODEL from the catalogue when it is not installed. */
  @Transform(toBoolean)
  @IsBoolean()
  AUTO_DOWNLOAD = true;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(100_000)
  MAX_TEXT_LENGTH = 500;

  /**
   * Characters of SSML markup per request (413 beyond), apart from MAX_TEXT_LENGTH,
   * which counts only what an SSML document speaks: markup is several times its text.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(100_000)
  MAX_SSML_LENGTH = 10_000;

  /**
   * How often MODEL_DIR is rescanned for voices added, replaced or removed, in
   * milliseconds; 0 scans only at start. Polling rather than file-system events: it also
   * sees changes made by other hosts on a shared (NFS, Kubernetes) volume.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  MODEL_RELOAD_INTERVAL_MS = 2000;

  /** Different voices kept loaded in the workers at once (least recently used evicted first). */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(1000)
  MAX_LOADED_VOICES = 8;

  /**
   * Estimated memory the loaded voices may take, every copy in every worker counted, in
   * MiB; 0 = no memory bound (MAX_LOADED_VOICES only). The default voice is never evicted.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  VOICE_MEMORY_MB = 0;

  /** Comma-separated voices loaded at start besides the default one (evictable later). */
  @Transform(toList)
  @IsString({ each: true })
  @Matches(/^[A-Za-z0-9_-]+$/, {
    each: true,
    message: 'PRELOAD_VOICES must list voice names ([A-Za-z0-9_-]+)',
  })
  PRELOAD_VOICES: string[] = [];

  /** Voice used when a request names none; default: the first voice found. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'DEFAULT_MODEL must be a voice name ([A-Za-z0-9_-]+)' })
  DEFAULT_MODEL?: string;

  @IsString()
  DEFAULT_SPEAKER = '0';

  @Transform(toBoolean)
  @IsBoolean()
  ENABLE_CORS = true;

  /** Comma-separated origins; "*" allows any. */
  @Transform(toList)
  @IsString({ each: true })
  ALLOWED_ORIGINS: string[] = ['*'];

  /**
   * Comma-separated keys; when any is set, synthesis routes require
   * `Authorization: Bearer <key>`. Empty: open, as the Python server was.
   */
  @Transform(toList)
  @IsString({ each: true })
  @MinLength(8, { each: true, message: 'API_KEYS: each key must be at least 8 characters' })
  API_KEYS: string[] = [];

  /** Key of the admin routes (installing and removing voices); unset: they are off. */
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'ADMIN_API_KEY must be at least 16 characters' })
  ADMIN_API_KEY?: string;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  RATE_LIMIT_REQUESTS = 60;

  /** Seconds. */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  RATE_LIMIT_WINDOW = 60;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  TTS_RATE_LIMIT_REQUESTS = 10;

  /**
   * With REDIS_URL, the audio cache and the rate limits live in Redis, shared by every
   * replica; without it, in this process's memory.
   */
  @IsOptional()
  @Matches(/^rediss?:\/\/\S+$/, {
    message: 'REDIS_URL must be a redis:// or rediss:// URL, e.g. redis://localhost:6379',
  })
  REDIS_URL?: string;

  /** Longest a request waits on Redis before going on without it. */
  @Transform(toInteger)
  @IsInt()
  @Min(10)
  @Max(10_000)
  REDIS_TIMEOUT_MS = 250;

  /**
   * Whether to take the client's address from X-Forwarded-For (behind a load balancer):
   * false (default), true (the left-most address), a number of proxy hops, or
   * addresses/subnets of trusted proxies ("loopback, 10.0.0.0/8"), as Express reads it.
   */
  @IsString()
  @Matches(/^(true|false|\d{1,2}|[\w.:/, -]+)$/, {
    message: 'TRUST_PROXY must be true, false, a hop count or a list of proxy addresses',
  })
  TRUST_PROXY = 'false';

  /** Redis unreachable: let requests through unlimited (true) or refuse them with 503 (false). */
  @Transform(toBoolean)
  @IsBoolean()
  RATE_LIMIT_FAIL_OPEN = true;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(1000)
  MAX_CONCURRENT_REQUESTS = 10;

  @Transform(toBoolean)
  @IsBoolean()
  ENABLE_CACHING = true;

  /** Seconds. */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  CACHE_TTL = 3600;

  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(64)
  WORKERS = Math.max(1, availableParallelism());

  /** onnxruntime intra-op threads per worker; 0 = cores / workers (at least 1). */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(64)
  WORKER_THREADS = 0;

  /**
   * A worker above this resident memory after a sentence is replaced by a fresh one
   * (onnxruntime keeps the buffers of the longest sentence it has spoken); 0: never.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  WORKER_MAX_RSS_MB = 0;

  /**
   * A one-sentence request that would wait while every worker speaks a long text
   * pauses those workers (SIGSTOP, then SIGCONT) and runs on every core.
   */
  @Transform(toBoolean)
  @IsBoolean()
  SENTENCE_PREEMPTION = true;

  @Transform(toInteger)
  @IsInt()
  @Min(0)
  MAX_QUEUE = 100;

  @Transform(toInteger)
  @IsInt()
  @Min(100)
  SYNTH_TIMEOUT_MS = 60_000;

  @Transform(toInteger)
  @IsInt()
  @Min(0)
  CACHE_MAX_BYTES = 256 * 1024 * 1024;

  /** Directory of the disk cache tier (outside MODEL_DIR); unset or empty: no disk tier. */
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && value.trim() === '' ? undefined : value,
  )
  @IsOptional()
  @IsString({ message: 'CACHE_DIR must be a directory path' })
  CACHE_DIR?: string;

  /** Bound of the disk cache tier in bytes; 0 turns the disk tier off. */
  @Transform(toInteger)
  @IsInt({ message: 'CACHE_DISK_MAX_BYTES must be a whole number of bytes' })
  @Min(0, { message: 'CACHE_DISK_MAX_BYTES must be 0 (no disk tier) or more' })
  CACHE_DISK_MAX_BYTES = 1024 * 1024 * 1024;

  /**
   * Sample rate of the OpenAI API's `pcm` format. OpenAI sends 24 kHz and its clients
   * play the bytes at that rate, so voices at other rates are resampled; 0 sends the
   * voice's own rate (named in the Content-Type).
   */
  @Transform(toInteger)
  @IsInt()
  @IsIn([0, 8000, 16000, 22050, 24000, 44100, 48000], {
    message:
      "OPENAI_PCM_SAMPLE_RATE must be 0 (the voice's rate) or one of 8000, 16000, 22050, 24000, 44100, 48000",
  })
  OPENAI_PCM_SAMPLE_RATE = 24000;

  /** Largest accepted request body. */
  @Transform(toInteger)
  @IsInt()
  @Min(1024)
  MAX_BODY_BYTES = 1024 * 1024;

  /**
   * Longest a client may take to send a request's headers (Node's headersTimeout):
   * a client that opens a connection and trickles its headers is cut off with 408.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(1000)
  HEADERS_TIMEOUT_MS = 10_000;

  /**
   * Longest a client may take to send a whole request, headers and body (Node's
   * requestTimeout): a body promised by Content-Length but never sent gets 408 then,
   * not after Node's 300 s. The time a request then takes to be answered (synthesis)
   * is not counted.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(1000)
  REQUEST_TIMEOUT_MS = 30_000;

  /**
   * How long an idle keep-alive connection stays open (Node's keepAliveTimeout); behind
   * a load balancer, set it above the balancer's own idle timeout.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  KEEP_ALIVE_TIMEOUT_MS = 5_000;

  /** How long SIGTERM waits for in-flight requests before ending the workers. */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  SHUTDOWN_TIMEOUT_MS = 25_000;

  /**
   * OpenAI voice names mapped to installed voices, as JSON: {"alloy": "en_US-lessac-medium",
   * "echo": "en_GB-vctk-medium:p239"}. Names not listed use the default voice, each with
   * its own speaker when that voice has several.
   */
  @Transform(({ value }: { value: unknown }) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  })
  @IsObject({ message: 'OPENAI_VOICE_MAP must be a JSON object of voice names' })
  @ValidateBy({
    name: 'isVoiceMap',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'object' &&
        value !== null &&
        Object.values(value).every((voice) => typeof voice === 'string'),
      defaultMessage: () =>
        'OPENAI_VOICE_MAP must map each OpenAI voice name to a string: "voice" or "voice:speaker"',
    },
  })
  OPENAI_VOICE_MAP: Record<string, string> = {};

  /**
   * TCP port of the Wyoming protocol (Home Assistant's text-to-speech protocol), at HOST;
   * 10200 is Home Assistant's convention; 0 turns it off.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(0)
  @Max(65535)
  WYOMING_PORT = 10200;

  /** Announce the Wyoming service over mDNS (`_wyoming._tcp`) for Home Assistant to find. */
  @Transform(toBoolean)
  @IsBoolean()
  WYOMING_ZEROCONF = false;

  /** Instance name of the mDNS announcement; default `piper-<host name>`. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$/, {
    message: 'WYOMING_ZEROCONF_NAME must be 1 to 63 letters, digits, spaces, "_", "." or "-"',
  })
  WYOMING_ZEROCONF_NAME?: string;

  /** Wyoming connections open at once; one more is sent an error event and closed. */
  @Transform(toInteger)
  @IsInt()
  @Min(1)
  @Max(100_000)
  WYOMING_MAX_CONNECTIONS = 100;

  /**
   * A Wyoming connection that sends nothing for this long while none of its syntheses
   * runs (an idle client, or half an event and a stall) is closed.
   */
  @Transform(toInteger)
  @IsInt()
  @Min(100)
  WYOMING_IDLE_TIMEOUT_MS = 60_000;

  /** Largest header line, data and payload of one Wyoming event, each (beyond: error, close). */
  @Transform(toInteger)
  @IsInt()
  @Min(1024)
  @Max(64 * 1024 * 1024)
  WYOMING_MAX_EVENT_BYTES = 1024 * 1024;

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  /** TRUST_PROXY as Express's 'trust proxy' setting takes it. */
  get trustProxy(): boolean | number | string {
    if (this.TRUST_PROXY === 'true' || this.TRUST_PROXY === 'false') {
      return this.TRUST_PROXY === 'true';
    }
    return /^\d+$/.test(this.TRUST_PROXY) ? Number(this.TRUST_PROXY) : this.TRUST_PROXY;
  }

  /**
   * OPENAI_VOICE_MAP as a Map, lower-cased names: a request's voice name is looked up
   * here, where "constructor" or "__proto__" is just a name that is not mapped.
   */
  get openAiVoiceMap(): ReadonlyMap<string, string> {
    return new Map(
      Object.entries(this.OPENAI_VOICE_MAP).map(([name, voice]) => [name.toLowerCase(), voice]),
    );
  }

  /** MODEL_DIR resolved against the working directory. */
  get modelDir(): string {
    return resolve(this.MODEL_DIR);
  }

  /** CACHE_DIR resolved against the working directory; undefined: no disk tier. */
  get cacheDir(): string | undefined {
    return this.CACHE_DIR === undefined ? undefined : resolve(this.CACHE_DIR);
  }

  /** Intra-op threads each worker gives onnxruntime. */
  get workerThreads(): number {
    return this.WORKER_THREADS || Math.max(1, Math.floor(availableParallelism() / this.WORKERS));
  }
}

/** Names of the variables this server reads (unknown variables are ignored). */
const SETTING_NAMES = new Set(
  Object.keys(new Settings()).concat(
    'DEFAULT_MODEL',
    'CACHE_DIR',
    'REDIS_URL',
    'ADMIN_API_KEY',
    'WYOMING_ZEROCONF_NAME',
  ),
);

/**
 * Builds validated settings from an environment. Throws one Error listing every bad
 * variable by name; used as @nestjs/config's `validate` so a bad value stops the boot.
 */
export function validateSettings(env: Record<string, unknown>): Settings {
  const relevant = Object.fromEntries(
    Object.entries(env).filter(([name, value]) => SETTING_NAMES.has(name) && value !== undefined),
  );
  const settings = plainToInstance(Settings, relevant);
  const errors = validateSync(settings, { skipMissingProperties: false });
  if (errors.length > 0) {
    const lines = errors.map((error) => {
      const given = JSON.stringify(relevant[error.property]);
      const reasons = Object.values(error.constraints ?? {}).join('; ');
      return `${error.property}=${given}: ${reasons}`;
    });
    throw new Error(`invalid settings: ${lines.join(' | ')}`);
  }
  if (settings.HEADERS_TIMEOUT_MS > settings.REQUEST_TIMEOUT_MS) {
    // Node refuses a headers timeout longer than the whole request's.
    throw new Error(
      `invalid settings: HEADERS_TIMEOUT_MS=${settings.HEADERS_TIMEOUT_MS} must not exceed ` +
        `REQUEST_TIMEOUT_MS=${settings.REQUEST_TIMEOUT_MS}`,
    );
  }
  return settings;
}
