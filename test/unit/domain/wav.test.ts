import { describe, expect, it } from 'vitest';
import { isWavContentType, wavDurationSeconds } from '../../../src/domain/recordings/wav.js';

/** A RIFF/WAVE header with the given chunks before `data`; `byteRate` in the fmt chunk. */
function header(o: { byteRate: number; dataSize: number; before?: Buffer[]; fmt?: boolean }): Buffer {
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(1, 10);
  fmt.writeUInt32LE(8000, 12);
  fmt.writeUInt32LE(o.byteRate, 16);
  fmt.writeUInt16LE(2, 20);
  fmt.writeUInt16LE(16, 22);
  const data = Buffer.alloc(8);
  data.write('data', 0, 'latin1');
  data.writeUInt32LE(o.dataSize, 4);
  const riff = Buffer.from('RIFF\0\0\0\0WAVE', 'latin1');
  return Buffer.concat([riff, ...(o.before ?? []), ...(o.fmt === false ? [] : [fmt]), data]);
}

function chunk(id: string, size: number): Buffer {
  const b = Buffer.alloc(8 + size + (size % 2));
  b.write(id, 0, 'latin1');
  b.writeUInt32LE(size, 4);
  return b;
}

describe('WAV duration from the header', () => {
  it('is the data size over the byte rate, to the millisecond', () => {
    const h = header({ byteRate: 16000, dataSize: 40000 });
    expect(wavDurationSeconds(h, h.length + 40000)).toBe(2.5);
    expect(wavDurationSeconds(h, h.length + 40000 + 100)).toBe(2.5); // trailing chunks do not count
  });

  it('skips other chunks (odd sizes padded) before fmt and data', () => {
    const h = header({ byteRate: 16000, dataSize: 8000, before: [chunk('LIST', 33), chunk('JUNK', 4)] });
    expect(wavDurationSeconds(h, h.length + 8000)).toBe(0.5);
  });

  it('a streaming recorder’s 0 or 0xFFFFFFFF data size means: to the end', () => {
    for (const dataSize of [0, 0xffffffff]) {
      const h = header({ byteRate: 16000, dataSize });
      expect(wavDurationSeconds(h, h.length + 24000)).toBe(1.5);
    }
  });

  it('a data size beyond the file is cut to what is there', () => {
    const h = header({ byteRate: 16000, dataSize: 1_000_000 });
    expect(wavDurationSeconds(h, h.length + 16000)).toBe(1);
  });

  it('is null without a RIFF/WAVE header, a fmt chunk, a byte rate or a data chunk in reach', () => {
    expect(wavDurationSeconds(Buffer.from('ID3\u0004\0\0\0\0\0\0\0\0'), 12)).toBeNull();
    expect(wavDurationSeconds(Buffer.alloc(0), 0)).toBeNull();
    const noFmt = header({ byteRate: 16000, dataSize: 10, fmt: false });
    expect(wavDurationSeconds(noFmt, noFmt.length + 10)).toBeNull();
    const zeroRate = header({ byteRate: 0, dataSize: 10 });
    expect(wavDurationSeconds(zeroRate, zeroRate.length + 10)).toBeNull();
    const cut = header({ byteRate: 16000, dataSize: 10 }).subarray(0, 30);
    expect(wavDurationSeconds(cut, 1000)).toBeNull();
  });

  it('recognises the WAV content types', () => {
    for (const t of ['audio/wav', 'audio/x-wav', 'audio/wave', 'Audio/WAV; codecs=1', 'audio/vnd.wave'])
      expect(isWavContentType(t), t).toBe(true);
    for (const t of ['audio/mpeg', 'audio/ogg', 'application/octet-stream', 'audio/wavx'])
      expect(isWavContentType(t), t).toBe(false);
  });
});
