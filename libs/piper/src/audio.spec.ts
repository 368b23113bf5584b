import { decodeWav, encodeWav, floatToPcm16, wavHeader } from './audio';

describe('floatToPcm16', () => {
  it('normalises each sentence to its peak and truncates toward zero (piper1-gpl)', () => {
    const pcm = floatToPcm16(Float32Array.of(0.25, -0.5, 0.125, 0.00001));
    // 0.25/0.5 * 32767 = 16383.5 → 16383; -1 → -32767; 0.25 → 8191.75 → 8191
    expect(Array.from(pcm)).toEqual([16383, -32767, 8191, 0]);
  });

  it('applies volume after normalisation and clips to [-1, 1]', () => {
    expect(Array.from(floatToPcm16(Float32Array.of(0.5, -0.25, 0.1), 0.5))).toEqual([
      16383, -8191, 3276,
    ]);
    expect(Array.from(floatToPcm16(Float32Array.of(0.5, -0.25), 4))).toEqual([32767, -32767]);
    expect(Array.from(floatToPcm16(Float32Array.of(0.5, -0.25), 0))).toEqual([0, 0]);
  });

  it('turns a near-silent or broken sentence into silence instead of amplifying it', () => {
    expect(Array.from(floatToPcm16(Float32Array.of(1e-9, -1e-9)))).toEqual([0, 0]);
    expect(Array.from(floatToPcm16(Float32Array.of(NaN, 0.5)))).toEqual([0, 0]);
    expect(floatToPcm16(new Float32Array(0))).toHaveLength(0);
  });

  it('matches numpy float32 arithmetic bit for bit', () => {
    // 0.3 / 0.7 in float32 is 0.42857143…; × 32767 in float32 = 14043.0 (not 14042.99…)
    const x = Math.fround(0.3);
    const peak = Math.fround(0.7);
    const expected = Math.trunc(Math.fround(Math.fround(x / peak) * 32767));
    expect(floatToPcm16(Float32Array.of(x, peak))[0]).toBe(expected);
    expect(floatToPcm16(Float32Array.of(peak))[0]).toBe(32767);
  });
});

describe('wavHeader', () => {
  it('writes the 44-byte RIFF/WAVE header of mono 16-bit PCM', () => {
    const header = wavHeader({ sampleRate: 22050 }, 1000);
    expect(header).toHaveLength(44);
    expect(header.toString('ascii', 0, 4)).toBe('RIFF');
    expect(header.readUInt32LE(4)).toBe(1036);
    expect(header.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(header.readUInt32LE(16)).toBe(16);
    expect(header.readUInt16LE(20)).toBe(1); // PCM
    expect(header.readUInt16LE(22)).toBe(1); // mono
    expect(header.readUInt32LE(24)).toBe(22050);
    expect(header.readUInt32LE(28)).toBe(44100); // byte rate
    expect(header.readUInt16LE(32)).toBe(2); // block align
    expect(header.readUInt16LE(34)).toBe(16);
    expect(header.toString('ascii', 36, 40)).toBe('data');
    expect(header.readUInt32LE(40)).toBe(1000);
  });

  it('marks sizes unknown (0xFFFFFFFF) in a streaming header', () => {
    const header = wavHeader({ sampleRate: 16000 });
    expect(header.readUInt32LE(4)).toBe(0xffffffff);
    expect(header.readUInt32LE(40)).toBe(0xffffffff);
    expect(header.readUInt32LE(24)).toBe(16000);
  });
});

describe('encodeWav', () => {
  it('round-trips samples through decodeWav', () => {
    const pcm = Int16Array.of(0, 1, -1, 32767, -32768, 1234);
    const wav = encodeWav(pcm, 22050);
    expect(wav).toHaveLength(44 + pcm.length * 2);
    const decoded = decodeWav(wav);
    expect(decoded.sampleRate).toBe(22050);
    expect(decoded.channels).toBe(1);
    expect(decoded.bitsPerSample).toBe(16);
    expect(Array.from(decoded.pcm)).toEqual(Array.from(pcm));
  });
});
