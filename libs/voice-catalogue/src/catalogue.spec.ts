import { Catalogue, installedFiles, normalizeBaseUrl, parseCatalogue } from './catalogue';
import { CatalogueInvalidError } from './errors';

const MD5 = '0123456789abcdef0123456789abcdef';

function entry(name: string, dir: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    language: { code: 'en_US', family: 'en', region: 'US' },
    quality: 'medium',
    num_speakers: 1,
    speaker_id_map: {},
    aliases: [],
    files: {
      [`${dir}/${name}.onnx`]: { size_bytes: 1000, md5_digest: MD5 },
      [`${dir}/${name}.onnx.json`]: { size_bytes: 10, md5_digest: MD5 },
      [`${dir}/MODEL_CARD`]: { size_bytes: 5, md5_digest: MD5 },
      [`${dir}/samples/speaker_0.mp3`]: { size_bytes: 99, md5_digest: MD5 },
    },
    ...extra,
  };
}

describe(parseCatalogue.name, () => {
  it('reads voices.json entries and what a download installs', () => {
    const { voices, skipped } = parseCatalogue(
      JSON.stringify({ 'en_US-a-medium': entry('en_US-a-medium', 'en/en_US/a/medium') }),
      'test',
    );
    expect(skipped).toEqual([]);
    const voice = voices.get('en_US-a-medium')!;
    expect(voice.downloadBytes).toBe(1015);
    expect(installedFiles(voice)).toEqual({
      model: { path: 'en/en_US/a/medium/en_US-a-medium.onnx', sizeBytes: 1000, md5: MD5 },
      config: { path: 'en/en_US/a/medium/en_US-a-medium.onnx.json', sizeBytes: 10, md5: MD5 },
      card: { path: 'en/en_US/a/medium/MODEL_CARD', sizeBytes: 5, md5: MD5 },
    });
  });

  it('leaves out entries that would escape MODEL_DIR or lack a network', () => {
    const { voices, skipped } = parseCatalogue(
      JSON.stringify({
        '../evil': entry('../evil', 'x'),
        'en_US-up-medium': entry('en_US-up-medium', '../..'),
        'en_US-abs-medium': entry('en_US-abs-medium', '/etc'),
        'en_US-badmd5-medium': {
          ...entry('en_US-badmd5-medium', 'a'),
          files: { 'a/en_US-badmd5-medium.onnx': { size_bytes: 1, md5_digest: 'zz' } },
        },
        'en_US-nonet-medium': { ...entry('en_US-nonet-medium', 'a'), files: {} },
        'en_US-ok-medium': entry('en_US-ok-medium', 'en/en_US/ok/medium'),
      }),
      'test',
    );
    expect([...voices.keys()]).toEqual(['en_US-ok-medium']);
    expect(skipped).toHaveLength(5);
  });

  it('refuses a voices.json that is not a JSON object', () => {
    expect(() => parseCatalogue('<html>', 'https://x/voices.json')).toThrow(
      'invalid voice catalogue https://x/voices.json: not JSON',
    );
    expect(() => parseCatalogue('[]', 'x')).toThrow(CatalogueInvalidError);
  });
});

describe(Catalogue.name, () => {
  it('builds URLs under the base, each segment encoded', () => {
    const catalogue = new Catalogue('https://mirror.example/piper', new Map(), {
      url: '',
      cachePath: '',
      fetchedAt: new Date(0),
      stale: false,
    });
    expect(catalogue.urlOf('ca/ca_ES/upc ona/x_low/MODEL_CARD')).toBe(
      'https://mirror.example/piper/ca/ca_ES/upc%20ona/x_low/MODEL_CARD',
    );
  });

  it('accepts only http(s) base URLs, trailing slashes dropped', () => {
    expect(normalizeBaseUrl('https://h/x///')).toBe('https://h/x');
    expect(() => normalizeBaseUrl('file:///etc')).toThrow('must be http:// or https://');
  });
});
