/**
 * Length-prefixed TCP framing: 4-byte big-endian payload length, then the payload. The decoder
 * accumulates arbitrary chunks and refuses frames over a size limit before buffering them.
 */
import { DecodeError } from "./errors.ts";
import type { SocketWriter } from "./socketWriter.ts";

/** Prefix a payload with its length. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  out.set(frameHeader(payload.length));
  out.set(payload, 4);
  return out;
}

/** The 4-byte length prefix of a frame of `length` payload bytes. */
export function frameHeader(length: number): Uint8Array {
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

/**
 * Send `payload` as one frame without first copying it behind a prefix: a megabyte batch is
 * handed to the socket as it is, and only what the socket does not take at once is copied.
 */
export function writeFrame(writer: SocketWriter, payload: Uint8Array): void {
  writer.write(frameHeader(payload.length));
  writer.writeTransient(payload);
}

/** Smallest buffer the decoder allocates for a partial frame. */
const MIN_CAPACITY = 256;
/**
 * A buffer larger than this is released once its frame is complete, not kept for reuse. Above a
 * default client batch's frame (1 MiB of text plus its field ends, about 1.6 MiB), so those never
 * cost an allocation each.
 */
const RETAIN_CAPACITY = 4 * 1024 * 1024;
/**
 * How much a partial frame's buffer grows at a time. 4 rather than 2: a megabyte frame arriving
 * in 64 KiB reads allocates 1.3 MiB on its way instead of 2, and memory stays within four times
 * the bytes a connection has actually sent (a header alone reserves nothing).
 */
const GROWTH = 4;

/** Big-endian uint32 at `off` of `bytes` (the caller guarantees 4 bytes are there). */
function readLength(bytes: Uint8Array, off: number): number {
  return ((bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!) >>> 0;
}

/**
 * Splits a byte stream into frames, in time linear in the bytes received: complete frames are
 * handed out as views of each chunk, and only the one partial frame at the end of a chunk is
 * kept, in a buffer that grows geometrically (to the largest frame seen, up to RETAIN_CAPACITY
 * kept between frames) and is appended to in place, so every byte is copied into it at most
 * once (plus the amortized copies of growth). One buffer per connection: a frame completed in it
 * is used before the next partial frame is written over it (see push).
 */
export class FrameDecoder {
  /** The partial frame (header first) occupies `buf[0, len)`. */
  private buf = new Uint8Array(0);
  private len = 0;

  /**
   * @param maxFrameBytes largest payload accepted; a longer header is FRAME_TOO_LARGE. It may be
   * changed between frames (the gateway allows batch-sized frames only after the handshake).
   * @param limitNote what the limit is and how to stay under it, appended to FRAME_TOO_LARGE's message
   */
  constructor(public maxFrameBytes: number, public limitNote = "") {}

  /**
   * Add received bytes and iterate over the frames they complete. Each frame is a view (of
   * `chunk` or of the decoder's buffer) valid only until the iteration moves on: a caller that
   * keeps a frame copies it, and spreading the iterator into an array keeps views that later
   * frames overwrite. Stopping early drops the rest of the chunk (for a connection being
   * closed). Throws DecodeError FRAME_TOO_LARGE as soon as a header over the limit is seen,
   * before its body is buffered; frames before it in the same chunk were already yielded.
   */
  *push(chunk: Uint8Array): Generator<Uint8Array, void, undefined> {
    let off = 0;
    // 1. Complete the partial frame from earlier chunks, if there is one.
    if (this.len > 0) {
      if (this.len < 4) {
        off = this.append(chunk, off, 4 - this.len, 4);
        if (this.len < 4) return;
      }
      const total = 4 + this.checkedLength(this.buf, 0);
      off = this.append(chunk, off, total - this.len, total);
      if (this.len < total) return;
      // A view, no copy; the rest of the chunk is copied into the same buffer only after the
      // caller is done with it. One buffer reused instead of a megabyte allocated per batch (and
      // not two taking turns) is what keeps a connection's memory to one frame (bench/README.md).
      this.len = 0;
      yield this.buf.subarray(4, total);
      if (this.buf.length > RETAIN_CAPACITY) this.buf = new Uint8Array(0);
    }
    // 2. Whole frames straight out of the chunk.
    while (chunk.length - off >= 4) {
      const size = this.checkedLength(chunk, off);
      if (chunk.length - off - 4 < size) break;
      const from = off + 4;
      off = from + size;
      yield chunk.subarray(from, off);
    }
    // 3. Keep the start of the next frame (its header, when complete, was checked above).
    if (off < chunk.length) {
      const total = chunk.length - off >= 4 ? 4 + readLength(chunk, off) : 4;
      this.append(chunk, off, chunk.length - off, total);
    }
  }

  /**
   * Let go of the reused buffer when no frame is partly received (a connection done uploading
   * keeps no batch-sized buffer while it waits for results); a partial frame keeps its own.
   */
  release(): void {
    if (this.len === 0) this.buf = new Uint8Array(0);
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.len;
  }

  /** Payload length of the header at `off`, refused when over the limit. */
  private checkedLength(bytes: Uint8Array, off: number): number {
    const size = readLength(bytes, off);
    if (size > this.maxFrameBytes) {
      throw new DecodeError("FRAME_TOO_LARGE", `frame of ${size} bytes exceeds the limit of ${this.maxFrameBytes} bytes${this.limitNote ? ` (${this.limitNote})` : ""}`);
    }
    return size;
  }

  /**
   * Copy up to `want` bytes of `chunk` from `off` to the end of the partial frame, whose total
   * size (header included) is at most `frameTotal`; returns the offset after the bytes taken.
   */
  private append(chunk: Uint8Array, off: number, want: number, frameTotal: number): number {
    const take = Math.min(want, chunk.length - off);
    const need = this.len + take;
    if (need > this.buf.length) {
      const grown = new Uint8Array(Math.max(need, Math.min(Math.max(this.buf.length * GROWTH, MIN_CAPACITY), frameTotal)));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(chunk.subarray(off, off + take), this.len);
    this.len = need;
    return off + take;
  }
}
