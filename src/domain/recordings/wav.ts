/**
 * Duration of a RIFF/WAVE recording from its first bytes: the `fmt ` chunk's byte rate
 * and the `data` chunk's size. Only what a header says is trusted as far as the bytes go:
 * a `data` size larger than what follows it is cut to what follows it.
 */

/** How much of the start of a recording the duration may need (headers with a long LIST chunk). */
export const WAV_HEAD_BYTES = 64 * 1024;

const WAV_TYPES = new Set(['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave']);

/** `audio/wav`, `audio/x-wav`, `audio/wave` (any case, parameters ignored). */
export function isWavContentType(contentType: string): boolean {
  return WAV_TYPES.has(contentType.split(';')[0]!.trim().toLowerCase());
}

/**
 * Seconds of audio (to the millisecond), or null when `head` is not a parseable WAV
 * header. `totalSize` is the whole file's size: a streaming recorder writes the `data`
 * size as 0 or 0xFFFFFFFF before it knows it, and then the data runs to the end.
 */
export function wavDurationSeconds(head: Buffer, totalSize: number): number | null {
  if (
    head.length < 12 ||
    head.toString('latin1', 0, 4) !== 'RIFF' ||
    head.toString('latin1', 8, 12) !== 'WAVE'
  )
    return null;
  let byteRate: number | undefined;
  let pos = 12;
  while (pos + 8 <= head.length) {
    const id = head.toString('latin1', pos, pos + 4);
    const size = head.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > head.length) return null;
      byteRate = head.readUInt32LE(body + 8);
    } else if (id === 'data') {
      if (!byteRate) return null; // no (usable) fmt chunk before the data
      const available = Math.max(0, totalSize - body);
      const dataSize = size === 0 || size === 0xffffffff ? available : Math.min(size, available);
      return Math.round((dataSize / byteRate) * 1000) / 1000;
    }
    // Chunks are padded to an even length.
    pos = body + size + (size % 2);
  }
  return null;
}
