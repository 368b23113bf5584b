/*
 * The "try the voices" page: a plain browser script (no build step, no dependencies)
 * that uses the server's public API from the same origin.
 *
 * Speak plays while the audio streams: POST /tts with "stream": true and "format":
 * "mp3", read with fetch's body reader, each chunk appended to a MediaSource
 * SourceBuffer ('audio/mpeg') behind the <audio> element, which starts playing after
 * the first chunk. Why MP3: Media Source Extensions take it as a raw byte stream (in
 * Chromium, checked with MediaSource.isTypeSupported at run time), whereas a streamed
 * WAV has no MSE byte-stream format and Chromium rejects Ogg Opus; ADTS AAC would work
 * too, but its encoder sends the first bytes about 200 ms later (README, bench:stream).
 * The element then behaves as for any file: native controls, seeking, replay. Where
 * MediaSource is missing or rejects MP3 (Safari on iPhone has none), the page fetches
 * the whole WAV and plays it once it has arrived.
 *
 * Each word is marked as it is spoken (read-along): the page asks for the text's word
 * timestamps (POST /tts with "timestamps": true, JSON) and, on every animation frame
 * while the audio plays and on every seek, marks the word whose [start, end) holds the
 * element's currentTime. When streaming, that request goes out once the stream's
 * answer has begun (so it never takes the stream's place in a queue or a rate limit)
 * and only its timings are used; the MP3's encoder delay (at most ~50 ms) is left
 * alone, below what an eye can tell on a word. Without MediaSource the timestamps JSON
 * is the answer itself: its base64 WAV is what plays, so one synthesis gives both. For
 * SSML the read-along is the spoken text the answer carries (its offsets count in it),
 * not the markup. A voice without alignments simply plays without marks.
 *
 * Download asks the server again for the whole file in the chosen format (a repeat of a
 * spoken text is usually answered from the server's cache).
 */
'use strict';

(() => {
  const KEY_STORAGE = 'piper-tts.api-key';

  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $('tts-form'),
    keyField: $('key-field'),
    key: $('api-key'),
    voice: $('voice'),
    voiceDetails: $('voice-details'),
    speakerField: $('speaker-field'),
    speaker: $('speaker'),
    demoLink: $('demo-link'),
    cardLink: $('card-link'),
    noCard: $('no-card'),
    speed: $('speed'),
    speedValue: $('speed-value'),
    text: $('text'),
    textCount: $('text-count'),
    speak: $('speak'),
    stop: $('stop'),
    downloadFormat: $('download-format'),
    download: $('download'),
    message: $('message'),
    player: $('player'),
    status: $('status'),
    stats: $('stats'),
    phonemes: $('phonemes'),
    readAlong: $('read-along'),
    card: $('card'),
    cardText: $('card-text'),
  };

  const state = {
    voices: {},
    sampleTexts: {},
    maxTextLength: undefined,
    /** The sentence last put in the text area by the page (replaced on a voice change). */
    prefill: '',
    /** AbortController of the synthesis in progress. */
    running: undefined,
    /** Object URL currently set on the audio element. */
    audioUrl: undefined,
    /** The read-along's words: {start, end, element}, in order; empty: no marks. */
    words: [],
    /** The word marked now (index in `words`), -1 for none. */
    spokenWord: -1,
  };

  /** An error answer of the API: its JSON envelope plus the headers that matter. */
  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      const message = Array.isArray(body.message) ? body.message.join('; ') : body.message;
      super(message || `HTTP ${status}`);
      this.status = status;
      this.code = body.code;
      this.requestId = body.requestId;
      this.retryAfter = retryAfter;
    }
  }

  async function apiError(response) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      // A proxy's HTML page or an empty body: the status says enough.
    }
    const retryAfter = Number(response.headers.get('Retry-After'));
    return new ApiError(
      response.status,
      body && typeof body === 'object' ? body : {},
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
  }

  function authHeaders() {
    const key = ui.key.value.trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw await apiError(response);
    return response.json();
  }

  /** POST with a JSON body; the Response when it is 2xx, else an ApiError. */
  async function post(path, body, signal) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok) throw await apiError(response);
    return response;
  }

  const seconds = (value) => `${value} second${value === 1 ? '' : 's'}`;

  /** What went wrong, in words, with what to do about it. */
  function describeError(error) {
    if (!(error instanceof ApiError)) {
      if (error instanceof TypeError) {
        return 'Could not reach the server (network error). Check that it is running.';
      }
      return `Something went wrong: ${error.message}`;
    }
    const retry = error.retryAfter ? ` Try again in ${seconds(error.retryAfter)}.` : '';
    const reference = error.requestId ? ` (request ${error.requestId})` : '';
    let text;
    switch (error.status) {
      case 400:
        if (error.code === 'TEXT_TOO_LONG') {
          text = `The text is too long for this server: ${error.message}. Shorten it and try again.`;
        } else if (
          error.code === 'TEXT_EMPTY' ||
          /text should not be empty|text must be a string of 1 to/.test(error.message)
        ) {
          text = 'There is no text to speak. Type something first.';
        } else {
          text = `The server could not use this request: ${error.message}.`;
        }
        break;
      case 401:
        showKeyField();
        text =
          error.code === 'API_KEY_INVALID'
            ? 'The API key is not valid. Check it in the API key field.'
            : 'This server needs an API key. Enter it in the API key field.';
        break;
      case 404:
        text = `${error.message}. Reload the page to see the voices installed now.`;
        break;
      case 413:
        text = 'The text is too large for this server. Shorten it and try again.';
        break;
      case 429:
        text = `Too many requests: this server's rate limit has been reached.${retry}`;
        break;
      case 503:
        text = `The server is busy with other syntheses.${retry || ' Try again shortly.'}`;
        break;
      case 504:
        text = 'The synthesis took too long and the server stopped it. Try a shorter text.';
        break;
      case 502:
        text = 'The synthesis failed on the server (its worker was replaced). Try again.';
        break;
      default:
        text = `The server answered ${error.status}: ${error.message}.`;
    }
    return text + reference;
  }

  function showMessage(text) {
    ui.message.textContent = text;
  }

  function showKeyField() {
    ui.keyField.hidden = false;
  }

  // ---------------------------------------------------------------- voices

  function languageLabel(language) {
    if (!language || (!language.name_english && !language.code)) return 'Other';
    const name = language.name_english || language.code;
    const country = language.country_english ? ` (${language.country_english})` : '';
    const native =
      language.name_native && language.name_native !== language.name_english
        ? ` – ${language.name_native}`
        : '';
    return `${name}${country}${native}`;
  }

  function fillVoices(voices) {
    const groups = new Map();
    for (const [name, voice] of Object.entries(voices)) {
      const label = languageLabel(voice.language);
      if (!groups.has(label)) groups.set(label, []);
      groups.get(label).push(name);
    }
    ui.voice.replaceChildren();
    for (const label of [...groups.keys()].sort((a, b) => a.localeCompare(b))) {
      const group = document.createElement('optgroup');
      group.label = label;
      for (const name of groups.get(label).sort()) {
        const voice = voices[name];
        const speakers = voice.num_speakers > 1 ? ` (${voice.num_speakers} speakers)` : '';
        const option = new Option(`${name}${speakers}`, name);
        option.selected = voice.default === true;
        group.append(option);
      }
      ui.voice.append(group);
    }
  }

  function currentVoice() {
    return state.voices[ui.voice.value];
  }

  function onVoiceChange() {
    const name = ui.voice.value;
    const voice = currentVoice();
    if (!voice) return;

    const multiSpeaker = voice.num_speakers > 1;
    ui.speakerField.hidden = !multiSpeaker;
    ui.speaker.replaceChildren(
      ...voice.speakers.map(
        (speaker) =>
          new Option(
            speaker.id === speaker.index ? speaker.id : `${speaker.id} (#${speaker.index})`,
            speaker.index,
          ),
      ),
    );

    const details = [
      voice.language && voice.language.code,
      voice.quality,
      `${voice.sample_rate} Hz`,
      multiSpeaker ? `${voice.num_speakers} speakers` : '1 speaker',
    ].filter(Boolean);
    ui.voiceDetails.textContent = details.join(' · ');

    ui.demoLink.href = voice.demo;
    ui.demoLink.textContent = `Demo of ${name}`;
    ui.demoLink.hidden = false;
    ui.cardLink.hidden = !voice.model_card;
    ui.noCard.hidden = Boolean(voice.model_card);
    ui.card.hidden = !voice.model_card;
    if (voice.model_card) {
      ui.cardLink.href = voice.model_card;
      ui.cardLink.textContent = `Model card of ${name}`;
    }
    ui.cardText.textContent = '';
    if (ui.card.open) void loadCard();

    // Replace the text only if it is still the page's own suggestion.
    const sample = state.sampleTexts[name];
    if (sample && (ui.text.value === '' || ui.text.value === state.prefill)) {
      ui.text.value = sample;
      state.prefill = sample;
      updateCount();
    }
  }

  async function loadCard() {
    const voice = currentVoice();
    if (!voice || !voice.model_card || ui.cardText.textContent) return;
    try {
      const response = await fetch(voice.model_card);
      if (!response.ok) throw await apiError(response);
      ui.cardText.textContent = await response.text();
    } catch (error) {
      ui.cardText.textContent = describeError(error);
    }
  }

  // ---------------------------------------------------------------- request

  function speed() {
    return Number(ui.speed.value);
  }

  function updateSpeed() {
    ui.speedValue.textContent = `${speed().toFixed(2)}×`;
  }

  function updateCount() {
    const length = ui.text.value.length;
    const over = state.maxTextLength !== undefined && length > state.maxTextLength;
    ui.textCount.textContent =
      state.maxTextLength === undefined
        ? `${length} characters.`
        : `${length} of at most ${state.maxTextLength} characters${over ? ' – too long' : ''}.`;
    ui.textCount.classList.toggle('over', over);
  }

  /** The POST /tts body for the form's current state (format and stream added later). */
  function synthesisRequest() {
    const voice = currentVoice();
    const body = { text: ui.text.value, model: ui.voice.value };
    if (voice && voice.num_speakers > 1) body.speaker_id = ui.speaker.value;
    // Speed scales the voice's own length_scale (from its config): 2× is half of it.
    if (speed() !== 1) {
      const own = voice && voice.inference ? voice.inference.length_scale : 1;
      body.length_scale = Number((own / speed()).toFixed(3));
    }
    return body;
  }

  // ---------------------------------------------------------------- playback

  const MediaSourceApi = window.MediaSource;
  const canStreamMp3 = Boolean(MediaSourceApi && MediaSourceApi.isTypeSupported('audio/mpeg'));

  function setAudioUrl(url) {
    ui.player.removeAttribute('src');
    if (state.audioUrl) URL.revokeObjectURL(state.audioUrl);
    state.audioUrl = url;
    ui.player.src = url;
  }

  function once(target, event) {
    return new Promise((resolve) => target.addEventListener(event, resolve, { once: true }));
  }

  /** Resolves when the audio element knows its duration; rejects if it cannot decode. */
  function metadataLoaded(player) {
    return new Promise((resolve, reject) => {
      const loaded = () => {
        player.removeEventListener('error', failed);
        resolve();
      };
      const failed = () => {
        player.removeEventListener('loadedmetadata', loaded);
        reject(new Error('the browser could not play the audio'));
      };
      player.addEventListener('loadedmetadata', loaded, { once: true });
      player.addEventListener('error', failed, { once: true });
    });
  }

  /** The next chunk of a response body; a connection lost mid-stream says so. */
  async function nextChunk(reader, signal) {
    try {
      return await reader.read();
    } catch (error) {
      if (signal.aborted) throw error;
      throw new Error('the audio stream broke off before the end');
    }
  }

  function appendChunk(buffer, chunk) {
    return new Promise((resolve, reject) => {
      const done = () => {
        buffer.removeEventListener('error', failed);
        resolve();
      };
      const failed = () => {
        buffer.removeEventListener('updateend', done);
        reject(new Error('the browser could not decode the audio stream'));
      };
      buffer.addEventListener('updateend', done, { once: true });
      buffer.addEventListener('error', failed, { once: true });
      buffer.appendBuffer(chunk);
    });
  }

  function startPlaying() {
    // Refused only when the browser saw no user gesture; the controls remain usable.
    ui.player.play().catch(() => undefined);
  }

  /** Streams MP3 into the audio element; resolves when the last byte is appended. */
  async function playStreamed(body, signal, startedAt) {
    const response = await post('/tts', { ...body, stream: true, format: 'mp3' }, signal);
    // Timings for the read-along, once the stream has its place; PCM is the smallest audio.
    postTimestamps(body, 'pcm', signal)
      .then((answer) => {
        if (answer && !signal.aborted) {
          showReadAlong(answer.timed.text ?? body.text, answer.timed.words);
        }
      })
      .catch(() => undefined);
    const source = new MediaSourceApi();
    setAudioUrl(URL.createObjectURL(source));
    await once(source, 'sourceopen');
    const buffer = source.addSourceBuffer('audio/mpeg');
    const reader = response.body.getReader();
    let firstAudioMs;
    for (;;) {
      const { done, value } = await nextChunk(reader, signal);
      if (done) break;
      if (signal.aborted) throw new DOMException('stopped', 'AbortError');
      await appendChunk(buffer, value);
      if (firstAudioMs === undefined) {
        firstAudioMs = performance.now() - startedAt;
        ui.status.textContent = 'Playing while the rest is synthesized…';
        startPlaying();
      }
    }
    const totalMs = performance.now() - startedAt;
    if (firstAudioMs === undefined) throw new Error('the server sent no audio');
    source.endOfStream();
    return { response, firstAudioMs, totalMs, durationSeconds: source.duration };
  }

  /** Refusals of a timestamps request that mean "no timings here", not a failure. */
  const NO_TIMESTAMPS = new Set(['ALIGNMENTS_UNAVAILABLE', 'TIMESTAMPS_REQUEST_INVALID']);

  /** POST /tts for the words' timings (and the audio, in `format`); undefined if refused so. */
  async function postTimestamps(body, format, signal) {
    try {
      const response = await post('/tts', { ...body, timestamps: true, format }, signal);
      return { response, timed: await response.json() };
    } catch (error) {
      if (error instanceof ApiError && NO_TIMESTAMPS.has(error.code)) return undefined;
      throw error;
    }
  }

  function base64Bytes(base64) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  /** Fetches the whole WAV with its timings, then plays it (browsers without MSE for MP3). */
  async function playWhole(body, signal, startedAt) {
    const answer = await postTimestamps(body, 'wav', signal);
    let response;
    let blob;
    if (answer) {
      response = answer.response;
      blob = new Blob([base64Bytes(answer.timed.audio)], { type: 'audio/wav' });
      showReadAlong(answer.timed.text ?? body.text, answer.timed.words);
    } else {
      response = await post('/tts', { ...body, format: 'wav' }, signal);
      blob = await response.blob();
    }
    const totalMs = performance.now() - startedAt;
    setAudioUrl(URL.createObjectURL(blob));
    // Media events are queued tasks: listening right after setting src misses none.
    await metadataLoaded(ui.player);
    startPlaying();
    return { response, firstAudioMs: totalMs, totalMs, durationSeconds: ui.player.duration };
  }

  // ---------------------------------------------------------------- read-along

  function clearReadAlong() {
    state.words = [];
    state.spokenWord = -1;
    ui.readAlong.replaceChildren();
    ui.readAlong.hidden = true;
  }

  /**
   * Writes `text` into the read-along, each timed word a span. Offsets are code points of
   * the text as sent (char_start, char_end), what Array.from counts.
   */
  function showReadAlong(text, words) {
    clearReadAlong();
    if (!Array.isArray(words) || words.length === 0) return;
    const points = Array.from(text);
    let position = 0;
    for (const word of words) {
      if (word.char_start < position) continue;
      ui.readAlong.append(points.slice(position, word.char_start).join(''));
      const element = document.createElement('span');
      element.className = 'word';
      element.textContent = points.slice(word.char_start, word.char_end).join('');
      element.dataset.start = String(word.start);
      element.dataset.end = String(word.end);
      ui.readAlong.append(element);
      state.words.push({ start: word.start, end: word.end, element });
      position = word.char_end;
    }
    ui.readAlong.append(points.slice(position).join(''));
    ui.readAlong.hidden = false;
    markSpokenWord();
  }

  /** Marks the word being spoken at the audio element's currentTime (none in a pause). */
  function markSpokenWord() {
    const time = ui.player.currentTime;
    const index = state.words.findIndex((word) => word.start <= time && time < word.end);
    if (index === state.spokenWord) return;
    if (state.spokenWord >= 0)
      state.words[state.spokenWord].element.removeAttribute('aria-current');
    if (index >= 0) state.words[index].element.setAttribute('aria-current', 'true');
    state.spokenWord = index;
  }

  /** Follows playback frame by frame; timeupdate alone comes only about 4 times a second. */
  function followPlayback() {
    markSpokenWord();
    if (!ui.player.paused && !ui.player.ended) requestAnimationFrame(followPlayback);
  }

  // ---------------------------------------------------------------- actions

  function setRunning(controller) {
    state.running = controller;
    const busy = controller !== undefined;
    ui.form.setAttribute('aria-busy', String(busy));
    ui.stop.disabled = !busy;
  }

  function stop() {
    if (state.running) state.running.abort();
    setRunning(undefined);
    ui.player.pause();
    ui.status.textContent = 'Stopped.';
  }

  async function phonemize(body, signal) {
    const response = await post('/phonemize', { text: body.text, model: body.model }, signal);
    return response.json();
  }

  function showStats(result, phonemes) {
    const { response, firstAudioMs, totalMs, durationSeconds } = result;
    const rows = [
      ['Cache', response.headers.get('X-Cache') || '–', 'cache'],
      ['Synthesis', `${Math.round(totalMs)} ms`, 'synthesis'],
      ['First audio', `${Math.round(firstAudioMs)} ms`, 'first-audio'],
      ['Audio', `${durationSeconds.toFixed(2)} s`, 'duration'],
      ['Real-time factor', (totalMs / 1000 / durationSeconds).toFixed(3), 'rtf'],
    ];
    if (phonemes) {
      const count = phonemes.sentences.reduce((sum, s) => sum + s.phonemes.length, 0);
      rows.push(['Phonemes', String(count), 'phonemes']);
    }
    ui.stats.replaceChildren(
      ...rows.map(([term, value, key]) => {
        const row = document.createElement('div');
        const dt = document.createElement('dt');
        const dd = document.createElement('dd');
        dt.textContent = term;
        dd.textContent = value;
        dd.dataset.stat = key;
        row.append(dt, dd);
        return row;
      }),
    );
    ui.phonemes.hidden = !phonemes;
    if (phonemes) {
      ui.phonemes.textContent = phonemes.sentences
        .map((sentence) => sentence.phonemes.join(''))
        .join('  ·  ');
    }
  }

  async function speak() {
    if (state.running) state.running.abort();
    const controller = new AbortController();
    setRunning(controller);
    showMessage('');
    ui.status.textContent = 'Synthesizing…';
    clearReadAlong();
    const body = synthesisRequest();
    // Phonemes for the stats, asked in parallel; the audio does not wait for them.
    const phonemes = phonemize(body, controller.signal).catch(() => undefined);
    const startedAt = performance.now();
    try {
      const play = canStreamMp3 ? playStreamed : playWhole;
      const result = await play(body, controller.signal, startedAt);
      showStats(result, await phonemes);
      ui.status.textContent = `Done: ${result.durationSeconds.toFixed(2)} s of audio.`;
    } catch (error) {
      if (controller.signal.aborted) return;
      ui.status.textContent = '';
      showMessage(describeError(error));
    } finally {
      if (state.running === controller) setRunning(undefined);
    }
  }

  function fileName(disposition, fallback) {
    const match = /filename="?([^";]+)"?/i.exec(disposition || '');
    return match ? match[1] : fallback;
  }

  async function download() {
    const format = ui.downloadFormat.value;
    showMessage('');
    ui.download.disabled = true;
    ui.status.textContent = `Preparing the ${format.toUpperCase()} file…`;
    try {
      const body = synthesisRequest();
      const response = await post('/tts', { ...body, format });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = fileName(response.headers.get('Content-Disposition'), `tts.${format}`);
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      ui.status.textContent = `Downloaded ${link.download} (${Math.round(blob.size / 1024)} KB).`;
    } catch (error) {
      ui.status.textContent = '';
      showMessage(describeError(error));
    } finally {
      ui.download.disabled = false;
    }
  }

  // ---------------------------------------------------------------- start

  async function start() {
    ui.key.value = sessionStorage.getItem(KEY_STORAGE) || '';
    ui.key.addEventListener('input', () => {
      const key = ui.key.value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    });
    ui.voice.addEventListener('change', onVoiceChange);
    ui.speed.addEventListener('input', updateSpeed);
    ui.text.addEventListener('input', updateCount);
    ui.text.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        ui.form.requestSubmit();
      }
    });
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void speak();
    });
    ui.stop.addEventListener('click', stop);
    ui.download.addEventListener('click', () => void download());
    ui.player.addEventListener('play', () => requestAnimationFrame(followPlayback));
    for (const event of ['seeked', 'timeupdate', 'pause', 'ended']) {
      ui.player.addEventListener(event, markSpokenWord);
    }
    ui.card.addEventListener('toggle', () => {
      if (ui.card.open) void loadCard();
    });
    updateSpeed();

    let info, voices, sampleTexts;
    try {
      [info, voices, sampleTexts] = await Promise.all([
        getJson('/info'),
        getJson('/voices'),
        getJson('/web/sample-texts'),
      ]);
    } catch (error) {
      ui.voice.replaceChildren(new Option('Voices could not be loaded'));
      showMessage(describeError(error));
      return;
    }
    state.voices = voices;
    state.sampleTexts = sampleTexts;
    state.maxTextLength = info.settings && info.settings.max_text_length;
    if (info.auth_required === true) showKeyField();

    if (Object.keys(voices).length === 0) {
      ui.voice.replaceChildren(new Option('No voices installed'));
      showMessage('This server has no voices yet: put Piper voices in its MODEL_DIR.');
      return;
    }
    fillVoices(voices);
    ui.voice.disabled = false;
    ui.speak.disabled = false;
    ui.download.disabled = false;
    onVoiceChange();
    updateCount();
  }

  void start();
})();
