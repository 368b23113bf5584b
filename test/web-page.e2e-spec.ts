/**
 * The page at `/`, used as a person would: headless Chromium (Debian's `chromium`,
 * driven by playwright-core) against the real server and its worker processes, on the
 * generated voices. Screenshots go to test-output/web-page/.
 *
 * Without /usr/bin/chromium (or CHROMIUM_PATH) the browser tests are skipped (the file
 * checks still run): `apt-get install chromium`, then `npx jest test/web-page`.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { decodeWav } from '@app/piper';
import { decodeMp3, maxExtraSeconds } from './support/audio-decoders';
import { waitFor } from './support/processes';
import { describeUnless } from './support/skips';
import { UNLIMITED_RATE, useTestServer } from './support/test-server';

/** Debian's chromium; CHROMIUM_PATH points elsewhere (another Chromium build). */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
const HOW_TO_RUN =
  `${CHROMIUM} not found. ` +
  'Install Debian\'s chromium (apt-get install chromium), then run "npx jest test/web-page".';
const describeInChromium = describeUnless(HAS_CHROMIUM ? undefined : HOW_TO_RUN);

const OUTPUT_DIR = join(__dirname, '../test-output/web-page');
const MAX_TEXT_LENGTH = 120;

interface SynthesisBody {
  text: string;
  model: string;
  speaker_id?: string;
  length_scale?: number;
}

/*
 * The functions handed to page.evaluate run in the browser. The project compiles
 * without the DOM library (it is a Node code base), so the few browser objects they
 * touch are described here.
 */
interface AudioElement {
  currentSrc: string;
  duration: number;
  readyState: number;
  error: { code: number } | null;
  currentTime: number;
}
interface SeekableElement {
  currentTime: number;
  ended: boolean;
  pause(): void;
  play(): Promise<void>;
  addEventListener(type: string, listener: () => void, options?: { once: boolean }): void;
}
interface FormControl {
  id: string;
  labels: { length: number } | null;
}
interface Attributes {
  getAttribute(name: string): string | null;
}

/** HTMLMediaElement.HAVE_CURRENT_DATA: the element has decoded audio to play. */
const HAVE_CURRENT_DATA = 2;

/** What the audio element holds once the page has finished a synthesis. */
interface PlayerState {
  src: string;
  durationSeconds: number;
  readyState: number;
  error: number | null;
  /** Seconds played so far. */
  currentTime: number;
}

describe('Web page', () => {
  const server = useTestServer({
    ...UNLIMITED_RATE,
    DEFAULT_MODEL: 'test-voice',
    MAX_TEXT_LENGTH: String(MAX_TEXT_LENGTH),
  });

  /** The same request the page makes, answered by the API as a whole WAV. */
  async function apiWav(body: SynthesisBody): Promise<Buffer> {
    const res = await fetch(`${server.url}/tts`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...body, format: 'wav' }),
    });
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  }

  function wavSeconds(wav: Buffer): number {
    const { pcm, sampleRate } = decodeWav(wav);
    return pcm.length / sampleRate;
  }

  describe('files', () => {
    it('GET / is the page, with its script and style under /web/', async () => {
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await page.text();
      expect(html).toContain('<script src="/web/app.js"');
      expect(html).toContain('href="/docs"');
      // Nothing from another origin: the page works offline.
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);

      const script = await fetch(`${server.url}/web/app.js`);
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await script.text()).toContain("addSourceBuffer('audio/mpeg')");
      const style = await fetch(`${server.url}/web/app.css`);
      expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');

      const missing = await fetch(`${server.url}/web/nothing.js`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ statusCode: 404 });
    });

    it('GET /web/sample-texts gives each voice a sentence in its language', async () => {
      const res = await fetch(`${server.url}/web/sample-texts`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        'multi-voice': expect.stringMatching(/^Hello!/),
        'test-voice': expect.stringMatching(/^Hello!/),
      });
    });

    it('keeps the page routes out of the API document', async () => {
      const document = (await (await fetch(`${server.url}/docs/openapi.json`)).json()) as {
        paths: Record<string, unknown>;
      };
      expect(Object.keys(document.paths)).toContain('/tts');
      expect(
        Object.keys(document.paths).filter((path) => path === '/' || path.startsWith('/web')),
      ).toEqual([]);
    });
  });

  describeInChromium('in Chromium', () => {
    let browser: Browser;
    let context: BrowserContext;

    beforeAll(async () => {
      await mkdir(OUTPUT_DIR, { recursive: true });
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    });

    beforeEach(async () => {
      context = await browser.newContext({ acceptDownloads: true });
    });

    afterEach(async () => {
      await context?.close();
    });

    afterAll(async () => {
      await browser?.close();
    });

    /** Opens the page and waits until the voices are loaded. */
    async function openPage(): Promise<Page> {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      // Offline means nothing is fetched from anywhere but this server.
      page.on('request', (request) => {
        if (!request.url().startsWith(`${server.url}/`) && !/^(data|blob):/.test(request.url())) {
          problems.push(`request to ${request.url()}`);
        }
      });
      await page.goto(`${server.url}/`, { waitUntil: 'networkidle' });
      await page.locator('#voice:not([disabled])').waitFor();
      expect(problems).toEqual([]);
      return page;
    }

    /** Waits for the stats of a finished synthesis and the audio element's state. */
    async function finishedPlayer(page: Page): Promise<PlayerState> {
      await page.locator('#stats [data-stat="duration"]').waitFor();
      return waitFor('the audio element to hold playable audio', async () => {
        const player = await page
          .locator('#player')
          .evaluate((element: AudioElement): PlayerState => ({
            src: element.currentSrc,
            durationSeconds: element.duration,
            readyState: element.readyState,
            error: element.error && element.error.code,
            currentTime: element.currentTime,
          }));
        return (
          player.readyState >= HAVE_CURRENT_DATA &&
          Number.isFinite(player.durationSeconds) &&
          player
        );
      });
    }

    async function stat(page: Page, name: string): Promise<string> {
      return (await page.locator(`#stats [data-stat="${name}"]`).textContent()) ?? '';
    }

    it('speaks the chosen voice and speaker while streaming, shows the stats, downloads', async () => {
      const page = await openPage();

      // Voices grouped by language, the default one chosen, its sentence prefilled.
      expect(await page.locator('#voice optgroup').getAttribute('label')).toMatch(/^English/);
      expect(await page.locator('#voice').inputValue()).toBe('test-voice');
      expect(await page.locator('#text').inputValue()).toMatch(/^Hello!/);
      expect(await page.locator('#speaker-field').isHidden()).toBe(true);
      // Every control has a label (screen readers, and clicking the label focuses it).
      const unlabelled = await page
        .locator('input, select, textarea')
        .evaluateAll((controls: FormControl[]) =>
          controls
            .filter((control) => !control.labels || control.labels.length === 0)
            .map((control) => control.id),
        );
      expect(unlabelled).toEqual([]);

      await page.getByLabel('Voice').selectOption('multi-voice');
      await expect(page.locator('#speaker-field').isVisible()).resolves.toBe(true);
      expect(await page.locator('#speaker option').allTextContents()).toEqual([
        'speaker_0 (#0)',
        'speaker_1 (#1)',
        'speaker_2 (#2)',
      ]);
      await page.getByLabel('Speaker').selectOption('1');
      expect(await page.locator('#demo-link').getAttribute('href')).toBe('/demo/multi-voice');
      expect(await page.locator('#card-link').getAttribute('href')).toBe('/model_card/multi-voice');
      await page.locator('#card summary').click();
      await page.locator('#card-text').filter({ hasText: '# Multi voice' }).waitFor();

      await page.getByLabel(/^Speed/).fill('1.25');
      expect(await page.locator('#speed-value').textContent()).toBe('1.25×');
      const text = 'Hello from the browser. A second sentence follows, then a third one.';
      await page.getByLabel('Text').fill(text);
      const [speakRequest] = await Promise.all([
        page.waitForRequest((req) => req.url() === `${server.url}/tts` && req.method() === 'POST'),
        page.getByRole('button', { name: 'Speak' }).click(),
      ]);

      const player = await finishedPlayer(page);
      const body = { text, model: 'multi-voice', speaker_id: '1', length_scale: 0.8 };
      expect(speakRequest.postDataJSON()).toEqual({ ...body, stream: true, format: 'mp3' });
      const wav = await apiWav(body);
      const expectedSeconds = wavSeconds(wav);
      // The page streamed MP3 through MediaSource: a blob: source that the browser
      // decoded, as long as the WAV plus at most the MP3 encoder's delay and padding.
      expect(player.src).toMatch(/^blob:/);
      expect(player.error).toBeNull();
      // Speak also starts playback (Chromium's headless audio output advances the clock).
      await waitFor('the audio element to play', () =>
        page.locator('#player').evaluate((element: AudioElement) => element.currentTime > 0),
      );
      expect(player.durationSeconds).toBeGreaterThanOrEqual(expectedSeconds);
      expect(player.durationSeconds - expectedSeconds).toBeLessThanOrEqual(
        maxExtraSeconds('mp3', 22050) + 0.001,
      );

      // The stats line: cache, times, duration and real-time factor, phonemes.
      expect(await stat(page, 'cache')).toBe('MISS');
      expect(await stat(page, 'synthesis')).toMatch(/^\d+ ms$/);
      expect(await stat(page, 'first-audio')).toMatch(/^\d+ ms$/);
      expect(await stat(page, 'duration')).toBe(`${player.durationSeconds.toFixed(2)} s`);
      expect(Number(await stat(page, 'rtf'))).toBeGreaterThan(0);
      const phonemized = (await (
        await fetch(`${server.url}/phonemize`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ text, model: 'multi-voice' }),
        })
      ).json()) as { sentences: Array<{ phonemes: string[] }> };
      const phonemeCount = phonemized.sentences.reduce((n, s) => n + s.phonemes.length, 0);
      expect(await stat(page, 'phonemes')).toBe(String(phonemeCount));
      expect(await page.locator('#phonemes').textContent()).toBe(
        phonemized.sentences.map((s) => s.phonemes.join('')).join('  ·  '),
      );
      expect(await page.locator('#message').textContent()).toBe('');
      await page.screenshot({ path: join(OUTPUT_DIR, 'spoken.png'), fullPage: true });

      // Ctrl+Enter in the text speaks again; the completed stream was cached.
      await page.locator('#stats').evaluate((stats: { replaceChildren(): void }) => {
        stats.replaceChildren();
      });
      await page.getByLabel('Text').press('Control+Enter');
      await finishedPlayer(page);
      expect(await stat(page, 'cache')).toBe('HIT');

      // Download as WAV: the same bytes the API answers for the same request.
      const [wavDownload] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download' }).click(),
      ]);
      expect(wavDownload.suggestedFilename()).toBe('tts_multi-voice_1.wav');
      const wavPath = join(OUTPUT_DIR, wavDownload.suggestedFilename());
      await wavDownload.saveAs(wavPath);
      expect((await readFile(wavPath)).equals(wav)).toBe(true);

      // And as MP3: a file a decoder reads back to the same length.
      await page.getByLabel('Download as').selectOption('mp3');
      const [mp3Download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download' }).click(),
      ]);
      expect(mp3Download.suggestedFilename()).toBe('tts_multi-voice_1.mp3');
      const mp3Path = join(OUTPUT_DIR, mp3Download.suggestedFilename());
      await mp3Download.saveAs(mp3Path);
      const mp3 = await decodeMp3(await readFile(mp3Path));
      const mp3Seconds = mp3.samples.length / mp3.sampleRate;
      expect(mp3Seconds).toBeGreaterThanOrEqual(expectedSeconds);
      expect(mp3Seconds - expectedSeconds).toBeLessThanOrEqual(maxExtraSeconds('mp3', 22050));
    });

    it('shows readable messages for text that is too long or empty', async () => {
      const page = await openPage();
      const text = 'This sentence is repeated until it is longer than the limit. '.repeat(3).trim();
      await page.getByLabel('Text').fill(text);
      expect(await page.locator('#text-count').textContent()).toBe(
        `${text.length} of at most ${MAX_TEXT_LENGTH} characters – too long.`,
      );
      await page.getByRole('button', { name: 'Speak' }).click();
      const message = page.getByRole('alert');
      await message.filter({ hasText: /./ }).waitFor();
      expect(await message.textContent()).toMatch(
        new RegExp(
          `^The text is too long for this server: text is ${text.length} characters long; ` +
            `the limit is ${MAX_TEXT_LENGTH} \\(MAX_TEXT_LENGTH\\)\\. Shorten it and try again\\. \\(request [\\w-]+\\)$`,
        ),
      );
      expect(await page.locator('#stats').textContent()).toBe('');
      await page.screenshot({ path: join(OUTPUT_DIR, 'too-long.png'), fullPage: true });

      await page.getByLabel('Text').fill('');
      await page.getByRole('button', { name: 'Speak' }).click();
      await message.filter({ hasText: 'There is no text' }).waitFor();
      expect(await message.textContent()).toMatch(
        /^There is no text to speak\. Type something first\. \(request [\w-]+\)$/,
      );
    });

    it('plays the whole WAV in a browser without MediaSource', async () => {
      await context.addInitScript('delete window.MediaSource;');
      const page = await openPage();
      const text = 'Without media source extensions.';
      await page.getByLabel('Text').fill(text);
      await page.getByRole('button', { name: 'Speak' }).click();
      const player = await finishedPlayer(page);
      expect(player.src).toMatch(/^blob:/);
      expect(player.error).toBeNull();
      // A WAV is exact: the element's duration is the API's, to the sample.
      const expectedSeconds = wavSeconds(await apiWav({ text, model: 'test-voice' }));
      expect(player.durationSeconds).toBeCloseTo(expectedSeconds, 4);
      expect(await stat(page, 'cache')).toBe('MISS');
      // That one answer was the timestamps JSON: the words are marked up from it.
      expect(await page.locator('#read-along .word').allTextContents()).toEqual([
        'Without',
        'media',
        'source',
        'extensions',
      ]);
    });

    it('marks each word as it is spoken, following the audio as it plays and seeks', async () => {
      const page = await openPage();
      const text = 'One two three. Four, five!';
      await page.getByLabel('Text').fill(text);
      await page.getByRole('button', { name: 'Speak' }).click();
      await finishedPlayer(page);
      await page.locator('#read-along .word').first().waitFor();

      // The read-along is the text as typed, each word a span, timed as the API times it.
      const timed = (await (
        await fetch(`${server.url}/tts`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ text, model: 'test-voice', timestamps: true, format: 'pcm' }),
        })
      ).json()) as { words: Array<{ text: string; start: number; end: number }> };
      const words = timed.words.map((word) => word.text);
      expect(words).toEqual(['One', 'two', 'three', 'Four', 'five']);
      expect(await page.locator('#read-along').textContent()).toBe(text);
      expect(await page.locator('#read-along .word').allTextContents()).toEqual(words);

      const player = page.locator('#player');
      const marked = page.locator('#read-along [aria-current="true"]');
      /** Pauses, moves the playhead to `time` and resolves once the element has seeked. */
      const seek = (time: number): Promise<void> =>
        player.evaluate(
          (element: SeekableElement, to: number) =>
            new Promise<void>((resolve) => {
              element.pause();
              element.addEventListener('seeked', () => resolve(), { once: true });
              element.currentTime = to;
            }),
          time,
        );

      // The playhead inside each word marks that word, and only that one.
      for (const word of timed.words) {
        await seek((word.start + word.end) / 2);
        expect(await marked.allTextContents()).toEqual([word.text]);
      }
      await page.screenshot({ path: join(OUTPUT_DIR, 'read-along.png'), fullPage: true });
      // Between the sentences (the full stop's phonemes and the pause) no word is marked.
      await seek((timed.words[2].end + timed.words[3].start) / 2);
      expect(await marked.count()).toBe(0);

      // Played from the start, the mark moves from word to word in the order they are spoken.
      // (A string: the browser's MutationObserver is not in this Node project's types.)
      await page.evaluate(`{
        const log = (window.markedWords = []);
        const readAlong = document.getElementById('read-along');
        new MutationObserver(() => {
          const current = readAlong.querySelector('[aria-current="true"]');
          if (current && current.textContent !== log.at(-1)) log.push(current.textContent);
        }).observe(readAlong, { subtree: true, attributes: true, attributeFilter: ['aria-current'] });
      }`);
      await seek(0);
      await player.evaluate((element: SeekableElement) => element.play());
      await waitFor('the audio to play to its end', () =>
        player.evaluate((element: SeekableElement) => element.ended),
      );
      const seen = await page.evaluate<string[]>('window.markedWords');
      const order = seen.map((word) => words.indexOf(word));
      expect(order.every((index, i) => index >= 0 && (i === 0 || index > order[i - 1]))).toBe(true);
      expect(order.length).toBeGreaterThanOrEqual(3);
    });

    it('fits a phone screen without sideways scrolling', async () => {
      await context.close();
      context = await browser.newContext({
        viewport: { width: 360, height: 740 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      });
      const page = await openPage();
      await page.getByLabel('Voice').selectOption('multi-voice');
      const overflow = await page
        .locator('html')
        .evaluate(
          (root: { scrollWidth: number; clientWidth: number }) =>
            root.scrollWidth - root.clientWidth,
        );
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(OUTPUT_DIR, 'phone.png'), fullPage: true });
    });

    it('links to Swagger UI, which lists the operations', async () => {
      const page = await openPage();
      await page.getByRole('link', { name: 'API documentation (Swagger UI)' }).click();
      await page.waitForURL(`${server.url}/docs`);
      await page.locator('.opblock-summary-path').first().waitFor();
      const methods = await page.locator('.opblock-summary-method').allTextContents();
      const paths = await page
        .locator('.opblock-summary-path')
        .evaluateAll((elements: Attributes[]) =>
          elements.map((element) => element.getAttribute('data-path')),
        );
      const operations = methods.map((method, index) => `${method} ${paths[index]}`);
      expect(operations).toEqual(
        expect.arrayContaining(['POST /tts', 'POST /phonemize', 'GET /voices', 'GET /info']),
      );
      await page.screenshot({ path: join(OUTPUT_DIR, 'docs.png') });
    });
  });
});

/** A server of its own, for settings the main suite must not have, and a browser. */
function serverAndBrowser(settings: Record<string, string>): {
  url: () => string;
  browser: () => Browser;
} {
  let browser: Browser;
  // Declared before the server's hooks, so the browser (and its keep-alive connections)
  // is gone before the server closes: after-hooks run in the order they are declared.
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });
  const server = useTestServer({ DEFAULT_MODEL: 'test-voice', ...settings });

  return { url: () => server.url, browser: () => browser };
}

/** The page, loaded and with its voices listed. */
async function openPageIn(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${url}/`);
  await page.locator('#voice:not([disabled])').waitFor();
  return page;
}

describeInChromium('Web page under a rate limit', () => {
  const server = serverAndBrowser({ TTS_RATE_LIMIT_REQUESTS: '1', RATE_LIMIT_WINDOW: '60' });

  it('says when to try again', async () => {
    const page = await openPageIn(server.browser(), server.url());
    await page.getByRole('button', { name: 'Speak' }).click();
    await page.locator('#stats [data-stat="duration"]').waitFor();
    // Another text: a cache hit would not spend the synthesis budget.
    await page.getByLabel('Text').fill('Another sentence to speak.');
    await page.getByRole('button', { name: 'Speak' }).click();
    await page.getByRole('alert').filter({ hasText: /./ }).waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(
      /^Too many requests: this server's rate limit has been reached\. Try again in \d+ seconds?\. \(request [\w-]+\)$/,
    );
  });
});

describeInChromium('Web page with API_KEYS set', () => {
  const KEY = 'web-page-test-key';
  const server = serverAndBrowser({ API_KEYS: KEY });

  it('asks for the key, speaks with it and keeps it in session storage only', async () => {
    const page = await openPageIn(server.browser(), server.url());
    const keyField = page.getByLabel('API key');
    const alert = page.getByRole('alert');
    expect(await keyField.isVisible()).toBe(true);

    await page.getByRole('button', { name: 'Speak' }).click();
    await alert.filter({ hasText: /./ }).waitFor();
    expect(await alert.textContent()).toMatch(
      /^This server needs an API key\. Enter it in the API key field\. \(request [\w-]+\)$/,
    );

    await keyField.fill('not-the-right-key');
    await page.getByRole('button', { name: 'Speak' }).click();
    await alert.filter({ hasText: 'not valid' }).waitFor();
    expect(await alert.textContent()).toMatch(/^The API key is not valid\. Check it/);

    await keyField.fill(KEY);
    await page.getByRole('button', { name: 'Speak' }).click();
    await page.locator('#stats [data-stat="phonemes"]').waitFor();
    expect(await page.locator('#message').textContent()).toBe('');
    expect(await page.evaluate('[sessionStorage.length, localStorage.length]')).toEqual([1, 0]);

    // The same tab keeps it across a reload; another browser context never sees it.
    await page.reload();
    await page.locator('#voice:not([disabled])').waitFor();
    expect(await page.getByLabel('API key').inputValue()).toBe(KEY);
    const elsewhere = await openPageIn(server.browser(), server.url());
    expect(await elsewhere.getByLabel('API key').inputValue()).toBe('');
  });
});
