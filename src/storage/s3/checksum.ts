import { crc32 } from 'node:zlib';

/**
 * The CRC32 S3 reports for an object uploaded with `ChecksumAlgorithm: CRC32`, computed on
 * our side as the bytes stream past: for a single PUT the whole object's CRC32; for a
 * multipart upload the *composite* checksum — the CRC32 of the parts' big-endian CRC32s,
 * suffixed `-<parts>` — which needs the part boundaries, hence `partSize`.
 */
export class S3Crc32 {
  #parts: number[] = [];
  #current = 0;
  #inPart = 0;
  #total = 0;

  constructor(private readonly partSize: number) {}

  update(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength) {
      const take = Math.min(this.partSize - this.#inPart, chunk.byteLength - at);
      this.#current = crc32(chunk.subarray(at, at + take), this.#current);
      this.#inPart += take;
      at += take;
      if (this.#inPart === this.partSize) this.#closePart();
    }
    this.#total += chunk.byteLength;
  }

  /** As S3 prints it (`ChecksumCRC32`): base64, with `-<parts>` for multipart uploads. */
  digest(): string {
    const parts = [...this.#parts];
    if (this.#inPart > 0 || parts.length === 0) parts.push(this.#current);
    // lib-storage sends anything up to one part as a single PutObject.
    if (this.#total <= this.partSize) return be32(parts[0] ?? 0).toString('base64');
    const composite = crc32(Buffer.concat(parts.map(be32)));
    return `${be32(composite).toString('base64')}-${parts.length}`;
  }

  #closePart(): void {
    this.#parts.push(this.#current);
    this.#current = 0;
    this.#inPart = 0;
  }
}

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
