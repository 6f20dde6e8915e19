import type { GetCipher, GetDecipher } from '@aws-crypto/material-management-node';
import { IntegrityError } from '../errors.js';
import { IV_LENGTH, MAX_SEQUENCE_NUMBER, TAG_LENGTH } from './layout.js';

/**
 * Frame encryption and decryption on node:crypto (AES-256-GCM per frame).
 *
 * The SDK's `getCipher`/`getDecipher` are thin factories over `createCipheriv` with the
 * derived key; everything else (framing, AAD, buffering) is here so the hot path has no
 * per-byte JavaScript and no copies of frame-sized buffers.
 */

const FRAME_STRING = Buffer.from('AWSKMSEncryptionClient Frame', 'utf8');
const FINAL_FRAME_STRING = Buffer.from('AWSKMSEncryptionClient Final Frame', 'utf8');
const FINAL_MARKER = 0xffff_ffff;

/** Body AAD per spec: message id ‖ content string ‖ uint32 sequence ‖ uint64 content length. */
export function frameAad(messageId: Uint8Array, seq: number, contentLength: number, final: boolean): Buffer {
  const label = final ? FINAL_FRAME_STRING : FRAME_STRING;
  const aad = Buffer.allocUnsafe(messageId.length + label.length + 12);
  aad.set(messageId, 0);
  let pos = messageId.length;
  pos += label.copy(aad, pos);
  pos = aad.writeUInt32BE(seq, pos);
  // uint64 length; frames are capped far below 2^32 bytes, so the high word is 0.
  pos = aad.writeUInt32BE(0, pos);
  aad.writeUInt32BE(contentLength, pos);
  return aad;
}

/** The IV every ESDK writer uses: the sequence number, big-endian, right-aligned in 12 zero bytes. */
export function frameIv(seq: number): Buffer {
  const iv = Buffer.alloc(IV_LENGTH);
  iv.writeUInt32BE(seq, IV_LENGTH - 4);
  return iv;
}

/**
 * Encrypts one frame and returns its parts in wire order (frame header, ciphertext, tag);
 * pushing them separately avoids copying the ciphertext into a frame-sized buffer.
 */
export function sealFrame(
  getCipher: GetCipher,
  messageId: Uint8Array,
  seq: number,
  plaintext: Buffer,
  final: boolean,
): Buffer[] {
  if (seq < 1 || seq > MAX_SEQUENCE_NUMBER) throw new RangeError('message has too many frames');
  const iv = frameIv(seq);
  let head: Buffer;
  if (final) {
    head = Buffer.allocUnsafe(24);
    head.writeUInt32BE(FINAL_MARKER, 0);
    head.writeUInt32BE(seq, 4);
    iv.copy(head, 8);
    head.writeUInt32BE(plaintext.length, 20);
  } else {
    head = Buffer.allocUnsafe(16);
    head.writeUInt32BE(seq, 0);
    iv.copy(head, 4);
  }
  const cipher = getCipher(iv);
  cipher.setAAD(frameAad(messageId, seq, plaintext.length, final));
  const parts = [head];
  if (plaintext.length > 0) parts.push(cipher.update(plaintext));
  const rest = cipher.final(); // always empty for GCM; kept for correctness
  if (rest.length > 0) parts.push(rest);
  parts.push(cipher.getAuthTag());
  return parts;
}

export interface FrameDecoderOptions {
  getDecipher: GetDecipher;
  messageId: Uint8Array;
  frameLength: number;
  /** Sequence number of the first frame fed to the decoder (1 unless reading a range). */
  firstSeq: number;
  /**
   * When the object size is known: where the final frame must be and how long. Anything
   * else there (a regular frame, another length) is truncation or tampering.
   */
  expectFinal?: { seq: number; length: number };
  /** Called with a frame's plaintext only after its tag verified. */
  onFrame(seq: number, plaintext: Buffer[]): void;
}

type Phase = 'head' | 'body' | 'tag';

/**
 * Incremental frame parser. Ciphertext is fed to the decipher as it arrives (no frame
 * reassembly); the plaintext pieces are held back until `final()` verifies the tag, so
 * at most one frame of plaintext is buffered and none is released unauthenticated.
 */
export class FrameDecoder {
  /** The next sequence number expected. */
  nextSeq: number;
  /** True once the final frame verified. */
  done = false;
  private phase: Phase = 'head';
  private readonly head = Buffer.alloc(24);
  private headFill = 0;
  private headNeed = 4;
  private readonly tag = Buffer.alloc(TAG_LENGTH);
  private tagFill = 0;
  private remaining = 0;
  private isFinal = false;
  private decipher: ReturnType<GetDecipher> | undefined;
  private pending: Buffer[] = [];

  constructor(private readonly opts: FrameDecoderOptions) {
    this.nextSeq = opts.firstSeq;
  }

  /** True when the decoder stopped between frames (no partial frame buffered). */
  get atBoundary(): boolean {
    return this.phase === 'head' && this.headFill === 0;
  }

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.done) throw new IntegrityError('trailing bytes after the final frame');
      if (this.phase === 'head') {
        const take = Math.min(this.headNeed - this.headFill, chunk.length - pos);
        chunk.copy(this.head, this.headFill, pos, pos + take);
        this.headFill += take;
        pos += take;
        if (this.headFill === 4 && this.headNeed === 4) {
          this.isFinal = this.head.readUInt32BE(0) === FINAL_MARKER;
          this.headNeed = this.isFinal ? 24 : 16;
        }
        if (this.headFill === this.headNeed) this.startFrame();
      } else if (this.phase === 'body') {
        const take = Math.min(this.remaining, chunk.length - pos);
        // update() returns unauthenticated plaintext: it stays in `pending` until final().
        const out = this.decipher!.update(chunk.subarray(pos, pos + take));
        if (out.length > 0) this.pending.push(out);
        this.remaining -= take;
        pos += take;
        if (this.remaining === 0) this.phase = 'tag';
      } else {
        const take = Math.min(TAG_LENGTH - this.tagFill, chunk.length - pos);
        chunk.copy(this.tag, this.tagFill, pos, pos + take);
        this.tagFill += take;
        pos += take;
        if (this.tagFill === TAG_LENGTH) this.finishFrame();
      }
    }
  }

  private startFrame(): void {
    const { expectFinal, frameLength } = this.opts;
    const seq = this.isFinal ? this.head.readUInt32BE(4) : this.head.readUInt32BE(0);
    if (seq !== this.nextSeq) throw new IntegrityError(`frame out of sequence (expected ${this.nextSeq})`);
    let length = frameLength;
    if (this.isFinal) {
      length = this.head.readUInt32BE(20);
      if (length > frameLength) throw new IntegrityError('final frame longer than the frame length');
      if (expectFinal && (seq !== expectFinal.seq || length !== expectFinal.length)) {
        throw new IntegrityError('final frame does not match the message size (truncated?)');
      }
    } else if (expectFinal && seq >= expectFinal.seq) {
      throw new IntegrityError('missing final frame');
    }
    // The IV is taken as written rather than recomputed: authentication does not depend
    // on it being the sequence number, and a strict check would only reject odd writers.
    const iv = this.head.subarray(this.isFinal ? 8 : 4, this.isFinal ? 20 : 16);
    this.decipher = this.opts.getDecipher(new Uint8Array(iv));
    this.decipher.setAAD(frameAad(this.opts.messageId, seq, length, this.isFinal));
    this.remaining = length;
    this.phase = length > 0 ? 'body' : 'tag';
  }

  private finishFrame(): void {
    const decipher = this.decipher!;
    const seq = this.nextSeq;
    try {
      decipher.setAuthTag(Buffer.from(this.tag));
      const rest = decipher.final();
      if (rest.length > 0) this.pending.push(rest);
    } catch (err) {
      this.pending = [];
      throw new IntegrityError(`frame ${seq} failed authentication`, { cause: err });
    }
    const plaintext = this.pending;
    this.pending = [];
    this.decipher = undefined;
    this.phase = 'head';
    this.headFill = 0;
    this.headNeed = 4;
    this.tagFill = 0;
    this.nextSeq = seq + 1;
    if (this.isFinal) this.done = true;
    this.opts.onFrame(seq, plaintext);
  }
}
