import { expect, test } from "bun:test";
import { DecodeError } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./frame.ts";

/** Every frame `chunk` completes, each copied while it is valid (a frame is a view valid until the iteration moves on). */
function take(d: FrameDecoder, chunk: Uint8Array): Uint8Array[] {
  return Array.from(d.push(chunk), (f) => f.slice());
}

test("frames survive arbitrary chunking", () => {
  const payloads = [Uint8Array.of(1), new Uint8Array(0), Uint8Array.from({ length: 1000 }, (_, i) => i % 251)];
  const stream = new Uint8Array(payloads.reduce((n, p) => n + 4 + p.length, 0));
  let off = 0;
  for (const p of payloads) { const f = encodeFrame(p); stream.set(f, off); off += f.length; }
  for (const size of [1, 2, 3, 5, 7, 64, 4096]) {
    const d = new FrameDecoder(1 << 20);
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += size) got.push(...take(d, stream.subarray(i, i + size)));
    expect(got).toEqual(payloads);
    expect(d.pending).toBe(0);
  }
});

test("a frame over the limit is FRAME_TOO_LARGE before its body arrives", () => {
  const d = new FrameDecoder(100);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 101);
  try {
    take(d, header);
    throw new Error("accepted");
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).code).toBe("FRAME_TOO_LARGE");
  }
});

/** Concatenate byte arrays. */
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

test("a 16 MB frame fed in 64 KB chunks decodes in linear time", () => {
  const size = 16 << 20;
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 31 + (i >>> 16)) & 0xff;
  const stream = encodeFrame(payload);
  const d = new FrameDecoder(size);
  const got: Uint8Array[] = [];
  const started = performance.now();
  for (let i = 0; i < stream.length; i += 64 * 1024) {
    got.push(...take(d, stream.subarray(i, i + 64 * 1024)));
    if (i + 64 * 1024 < stream.length) expect(d.pending).toBe(i + 64 * 1024);
  }
  console.log(`16 MB frame in 64 KB chunks decoded in ${(performance.now() - started).toFixed(1)} ms`);
  expect(got.length).toBe(1);
  expect(got[0]!.length).toBe(size);
  expect(Buffer.from(got[0]!).equals(Buffer.from(payload))).toBe(true);
  expect(d.pending).toBe(0);
});

test("many small frames in one chunk", () => {
  const payloads = Array.from({ length: 10_000 }, (_, i) => Uint8Array.from({ length: i % 17 }, (_, j) => (i + j) & 0xff));
  const d = new FrameDecoder(64);
  const got = take(d, concat(payloads.map(encodeFrame)));
  expect(got).toEqual(payloads);
  expect(d.pending).toBe(0);
});

test("frames split at every byte boundary of the header, and of the payload's first bytes", () => {
  const a = Uint8Array.of(10, 20, 30, 40, 50);
  const b = Uint8Array.of(60, 70);
  const stream = concat([encodeFrame(a), encodeFrame(new Uint8Array(0)), encodeFrame(b)]);
  const ends = [9, 13, 19];
  // Every split of the stream into three pieces, so each header is cut at every offset.
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j++) {
      const d = new FrameDecoder(16);
      const got = [...take(d, stream.subarray(0, i)), ...take(d, stream.subarray(i, j))];
      expect(d.pending).toBe(j - Math.max(0, ...ends.filter((e) => e <= j)));
      got.push(...take(d, stream.subarray(j)));
      expect(got).toEqual([a, new Uint8Array(0), b]);
      expect(d.pending).toBe(0);
    }
  }
  // Header bytes one at a time: nothing comes out until the payload is complete.
  const d = new FrameDecoder(16);
  const frame = encodeFrame(a);
  for (let i = 0; i < frame.length - 1; i++) {
    expect(take(d, frame.subarray(i, i + 1))).toEqual([]);
    expect(d.pending).toBe(i + 1);
  }
  expect(take(d, frame.subarray(frame.length - 1))).toEqual([a]);
});

test("a frame is intact while it is used, also when a partial frame follows it in the same chunk", () => {
  const d = new FrameDecoder(1024);
  const first = encodeFrame(Uint8Array.of(1, 2, 3));
  const second = encodeFrame(Uint8Array.of(4, 5, 6));
  expect(take(d, first.subarray(0, 5))).toEqual([]);
  // Completes the first frame in the decoder's buffer and starts the second in the same chunk:
  // the second's bytes go into that buffer only once the first frame is done with.
  const seen: number[][] = [];
  for (const f of d.push(concat([first.subarray(5), second.subarray(0, 6)]))) seen.push([...f]);
  expect(seen).toEqual([[1, 2, 3]]);
  expect(d.pending).toBe(6);
  // Frames whole within one chunk are views of it, not copies.
  const whole = encodeFrame(Uint8Array.of(7, 8));
  const chunk = concat([second.subarray(6), whole]);
  const got: Uint8Array[] = [];
  for (const f of d.push(chunk)) got.push(f);
  expect(got[0]).toEqual(Uint8Array.of(4, 5, 6));
  expect(got[1]).toEqual(Uint8Array.of(7, 8));
  expect(got[1]!.buffer).toBe(chunk.buffer);
});

test("large frames are handed out without a copy, all from one reused buffer", () => {
  const d = new FrameDecoder(16 << 20);
  const payload = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
  const frames = [payload(300_000, 1), payload(290_000, 2), payload(300_000, 3), payload(280_000, 4)];
  const stream = concat(frames.map(encodeFrame));
  const got: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += 65_536) {
    for (const f of d.push(stream.subarray(i, i + 65_536))) {
      expect(Buffer.from(f).equals(Buffer.from(frames[got.length]!))).toBe(true);
      got.push(f);
    }
  }
  expect(got.length).toBe(4);
  expect(got[0]!.byteOffset).toBe(4);
  for (const f of got) expect(f.buffer).toBe(got[0]!.buffer);
});

test("a frame larger than the retained capacity does not keep its buffer", () => {
  const d = new FrameDecoder(16 << 20);
  const big = new Uint8Array(5 << 20).fill(5);
  const stream = concat([encodeFrame(big), encodeFrame(big), encodeFrame(big)]);
  const got: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += 1 << 20) for (const f of d.push(stream.subarray(i, i + (1 << 20)))) got.push(f);
  expect(got.length).toBe(3);
  expect(got[2]!.buffer).not.toBe(got[0]!.buffer);
  expect(got[2]!.buffer.byteLength).toBe((5 << 20) + 4);
});

test("a header over the limit split across chunks is refused once complete", () => {
  const d = new FrameDecoder(100);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 101);
  expect(take(d, header.subarray(0, 2))).toEqual([]);
  expect(() => take(d, header.subarray(2))).toThrow(DecodeError);
  const d2 = new FrameDecoder(100);
  // A valid frame then an oversized header in the same chunk.
  expect(() => take(d2, concat([encodeFrame(Uint8Array.of(1)), header]))).toThrow(DecodeError);
});

test("release lets go of the reused buffer but keeps a partial frame", () => {
  const d = new FrameDecoder(16 << 20);
  const frame = (v: number): Uint8Array => encodeFrame(new Uint8Array(300_000).fill(v));
  /** Push a frame in two chunks, so it completes in the decoder's buffer; returns it. */
  const split = (f: Uint8Array): Uint8Array => {
    expect(take(d, f.subarray(0, 100_000))).toEqual([]);
    let got: Uint8Array | undefined;
    for (const frame of d.push(f.subarray(100_000))) got ??= frame;
    expect(got?.[0]).toBe(f[4]!);
    return got!;
  };
  const first = split(frame(1));
  // A partial frame survives a release (in the buffer it is in) and completes as sent.
  const f2 = frame(2);
  expect(take(d, f2.subarray(0, 100_000))).toEqual([]);
  d.release();
  let second: Uint8Array | undefined;
  for (const f of d.push(f2.subarray(100_000))) second ??= f;
  expect(Buffer.from(second!).equals(Buffer.from(f2.subarray(4)))).toBe(true);
  expect(second!.buffer).toBe(first.buffer);
  // With no partial frame a release lets the buffer go; without it the third frame would land in it.
  d.release();
  const third = split(frame(3));
  expect(third.buffer).not.toBe(first.buffer);
});

test("a length with its top bit set (2^31 and up) is FRAME_TOO_LARGE, not a negative size", () => {
  for (const header of [[0x80, 0, 0, 0], [0xff, 0xff, 0xff, 0xff]]) {
    const d = new FrameDecoder(1 << 20);
    let caught: unknown = null;
    try {
      take(d, Uint8Array.of(...header, 1, 2, 3, 4, 5, 6, 7, 8));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect((caught as DecodeError).code).toBe("FRAME_TOO_LARGE");
  }
});
