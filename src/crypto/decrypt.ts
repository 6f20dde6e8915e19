import { addAbortSignal, type Readable } from 'node:stream';
import { finished as finishedStream } from 'node:stream/promises';
import { IntegrityError } from '../errors.js';
import { decodeHeader, MAX_HEADER_LENGTH, type ParsedHeader } from './header.js';
import { unlockMessage } from './keys.js';
import { type BodyLayout, layoutFromSize } from './layout.js';
import { FrameReader, type Plan, type ReaderContext } from './reader.js';
import type { ByteRange, CiphertextSource, MessageInfo, OpenedMessage, OpenOptions } from './types.js';

/** First header fetch; raw-AES and KMS headers are a few hundred bytes. */
const FIRST_HEADER_READ = 4096;

async function readExactly(source: CiphertextSource, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of await source.read({ start: 0, end: length - 1 })) {
    total += (chunk as Buffer).length;
    if (total > length) throw new IntegrityError('source returned more bytes than requested');
    chunks.push(chunk as Buffer);
  }
  if (total !== length) throw new IntegrityError('source returned fewer bytes than requested');
  return Buffer.concat(chunks, total);
}

/** Fetches just enough of the start of the object to parse the header (not yet authenticated). */
export async function readHeader(source: CiphertextSource): Promise<ParsedHeader> {
  let want = Math.min(source.size, FIRST_HEADER_READ);
  for (;;) {
    if (want === 0) throw new IntegrityError('empty object is not a message');
    const parsed = decodeHeader(await readExactly(source, want));
    if (parsed) return parsed;
    if (want >= source.size) throw new IntegrityError('truncated message header');
    want = Math.min(source.size, want * 8, MAX_HEADER_LENGTH);
  }
}

/** Maps a plaintext range to frame indexes; the final frame is included whenever the range reaches the end. */
function plan(layout: BodyLayout, range?: ByteRange): Plan {
  const n = layout.plaintextLength;
  const F = layout.frameLength;
  let start = 0;
  let end = n - 1;
  if (range) {
    if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end)) {
      throw new RangeError('range bounds must be integers');
    }
    if (range.start < 0 || range.end < range.start || range.start >= n) {
      throw new RangeError(`range ${range.start}-${range.end} not satisfiable for ${n} bytes`);
    }
    start = range.start;
    end = Math.min(range.end, n - 1);
  }
  const first = Math.min(Math.floor(start / F), layout.finalIndex);
  // Reading the final frame whenever the range reaches the end authenticates the total
  // length, so a truncated object cannot pass as a shorter complete one.
  const last = end === n - 1 ? layout.finalIndex : Math.floor(end / F);
  return { first, last, start, end };
}

function rangeStream(ctx: ReaderContext, range: ByteRange | undefined, signal?: AbortSignal): Readable {
  const out = new FrameReader(ctx, plan(ctx.layout, range));
  if (signal) addAbortSignal(signal, out);
  return out;
}

/** Reads and authenticates the header only; plaintextLength comes from the object size. */
export async function openMessage(source: CiphertextSource, opts: OpenOptions): Promise<OpenedMessage> {
  const parsed = await readHeader(source);
  const layout = layoutFromSize(source.size, parsed.headerLength, parsed.header.frameLength);
  const getDecipher = await unlockMessage(parsed, opts);
  const ctx: ReaderContext = { source, layout, getDecipher, messageId: parsed.header.messageId };
  const info: MessageInfo = { ...parsed.info, plaintextLength: layout.plaintextLength };
  return { info, stream: (range, o) => rangeStream(ctx, range, o?.signal) };
}

/** Authenticates the header, the commitment and every frame without releasing plaintext. */
export async function inspectMessage(source: CiphertextSource, opts: OpenOptions): Promise<MessageInfo> {
  const parsed = await readHeader(source);
  const layout = layoutFromSize(source.size, parsed.headerLength, parsed.header.frameLength);
  const getDecipher = await unlockMessage(parsed, opts);
  const reader = new FrameReader(
    { source, layout, getDecipher, messageId: parsed.header.messageId },
    plan(layout),
  );
  // Every frame is authenticated as it flows; its plaintext is dropped right here.
  reader.resume();
  await finishedStream(reader);
  return { ...parsed.info, plaintextLength: layout.plaintextLength };
}
