/**
 * Voice management over HTTP behind ADMIN_API_KEY: the catalogue, verified downloads
 * that the running server serves at once, and removal; off without ADMIN_API_KEY.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { makeModelDir, removeDir, serverFactory } from './support/test-server';
import {
  startVoiceCatalogueServer,
  type VoiceCatalogueServer,
} from './support/voice-catalogue-server';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const API_KEY = 'speaking-key-0123';

describe('Voice admin endpoints', () => {
  let workDir: string;
  let modelDir: string;
  let catalogue: VoiceCatalogueServer;
  let url: string;
  const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

  const servers = serverFactory(() => ({
    MODEL_DIR: modelDir,
    DEFAULT_MODEL: 'test-voice',
    VOICES_BASE_URL: catalogue.baseUrl,
    RATE_LIMIT_REQUESTS: '1000',
    TTS_RATE_LIMIT_REQUESTS: '1000',
  }));
  const server = (settings: Record<string, string>): Promise<string> => servers.start(settings);

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'voices-admin-'));
    modelDir = await makeModelDir();
    catalogue = await startVoiceCatalogueServer(join(workDir, 'catalogue'), [
      { name: 'en_GB-fresh-medium', speakers: 2 },
      { name: 'de_DE-broken-low', faults: { 'de_DE-broken-low.onnx': { corrupt: true } } },
    ]);
    url = await server({ ADMIN_API_KEY: ADMIN_KEY, API_KEYS: API_KEY });
  });

  afterAll(async () => {
    await servers.closeAll();
    await catalogue.close();
    await removeDir(modelDir);
    await removeDir(workDir);
  });

  it('needs the admin key: a synthesis key is not enough', async () => {
    await request(url).get('/voices/available').expect(401);
    const withApiKey = await request(url)
      .get('/voices/available')
      .set('Authorization', `Bearer ${API_KEY}`)
      .expect(401);
    expect(withApiKey.body.code).toBe('API_KEY_INVALID');
  });

  it('lists the catalogue with what is installed', async () => {
    const res = await request(url).get('/voices/available').set(admin).expect(200);
    expect(res.body).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'en_GB-fresh-medium', num_speakers: 2, installed: false }),
      ]),
    );
    const german = await request(url).get('/voices/available?language=de').set(admin).expect(200);
    expect(german.body.map((voice: { name: string }) => voice.name)).toEqual(['de_DE-broken-low']);
  });

  it('downloads a voice that the running server then lists and speaks with', async () => {
    const res = await request(url)
      .post('/voices/download')
      .set(admin)
      .send({ name: 'en_GB-fresh-medium' })
      .expect(200);
    expect(res.body).toEqual({ voice: 'en_GB-fresh-medium', installed: true });
    const voices = await request(url).get('/voices').expect(200);
    expect(Object.keys(voices.body)).toContain('en_GB-fresh-medium');
    await request(url)
      .post('/tts')
      .set('Authorization', `Bearer ${API_KEY}`)
      .send({ text: 'Freshly installed.', model: 'en_GB-fresh-medium', speaker_id: '1' })
      .expect(200);
  });

  it('refuses a corrupt download and leaves MODEL_DIR without it', async () => {
    const res = await request(url)
      .post('/voices/download')
      .set(admin)
      .send({ name: 'de_DE-broken-low' })
      .expect(502);
    expect(res.body.code).toBe('CHECKSUM_MISMATCH');
    expect(await readdir(modelDir)).not.toContain('de_DE-broken-low');
    const unknown = await request(url)
      .post('/voices/download')
      .set(admin)
      .send({ name: 'en_GB-fresh-mediun' })
      .expect(404);
    expect(unknown.body.message).toMatch(/en_GB-fresh-medium/);
  });

  it('removes a voice, but never the default one', async () => {
    const removed = await request(url).delete('/voices/en_GB-fresh-medium').set(admin).expect(200);
    expect(removed.body.voice).toBe('en_GB-fresh-medium');
    const voices = await request(url).get('/voices').expect(200);
    expect(Object.keys(voices.body)).not.toContain('en_GB-fresh-medium');
    await request(url).delete('/voices/en_GB-fresh-medium').set(admin).expect(404);
    const refused = await request(url).delete('/voices/test-voice').set(admin).expect(409);
    expect(refused.body.code).toBe('VOICE_IS_DEFAULT');
  });

  it('is off without ADMIN_API_KEY', async () => {
    const closed = await server({});
    const res = await request(closed).get('/voices/available').set(admin).expect(403);
    expect(res.body.message).toMatch(/set ADMIN_API_KEY/);
  });
});
