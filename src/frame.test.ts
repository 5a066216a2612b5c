import { expect, test } from "bun:test";
import { DecodeError } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./frame.ts";

test("frames survive arbitrary chunking", () => {
  const payloads = [Uint8Array.of(1), new Uint8Array(0), Uint8Array.from({ length: 1000 }, (_, i) => i % 251)];
  const stream = new Uint8Array(payloads.reduce((n, p) => n + 4 + p.length, 0));
  let off = 0;
  for (const p of payloads) { const f = encodeFrame(p); stream.set(f, off); off += f.length; }
  for (const size of [1, 2, 3, 5, 7, 64, 4096]) {
    const d = new FrameDecoder(1 << 20);
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += size) got.push(...d.push(stream.subarray(i, i + size)));
    expect(got).toEqual(payloads);
    expect(d.pending).toBe(0);
  }
});

test("a frame over the limit is FRAME_TOO_LARGE before its body arrives", () => {
  const d = new FrameDecoder(100);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 101);
  try {
    d.push(header);
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
    got.push(...d.push(stream.subarray(i, i + 64 * 1024)));
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
  const got = d.push(concat(payloads.map(encodeFrame)));
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
      const got = [...d.push(stream.subarray(0, i)), ...d.push(stream.subarray(i, j))];
      expect(d.pending).toBe(j - Math.max(0, ...ends.filter((e) => e <= j)));
      got.push(...d.push(stream.subarray(j)));
      expect(got).toEqual([a, new Uint8Array(0), b]);
      expect(d.pending).toBe(0);
    }
  }
  // Header bytes one at a time: nothing comes out until the payload is complete.
  const d = new FrameDecoder(16);
  const frame = encodeFrame(a);
  for (let i = 0; i < frame.length - 1; i++) {
    expect(d.push(frame.subarray(i, i + 1))).toEqual([]);
    expect(d.pending).toBe(i + 1);
  }
  expect(d.push(frame.subarray(frame.length - 1))).toEqual([a]);
});

test("returned frames are independent of the chunks and of the decoder's reused buffer", () => {
  const d = new FrameDecoder(1024);
  const first = encodeFrame(Uint8Array.of(1, 2, 3));
  const out1 = [...d.push(first.subarray(0, 5)), ...d.push(first.subarray(5))];
  const chunk = encodeFrame(Uint8Array.of(4, 5, 6));
  const out2 = d.push(chunk);
  // The decoder reuses its buffer for the next partial frame; earlier frames must not change.
  const next = encodeFrame(Uint8Array.of(9, 9, 9));
  d.push(next.subarray(0, 6));
  chunk.fill(0);
  expect(out1).toEqual([Uint8Array.of(1, 2, 3)]);
  expect(out2).toEqual([Uint8Array.of(4, 5, 6)]);
  for (const f of [...out1, ...out2]) expect(f.byteOffset).toBe(0);
});

test("a large frame completed in the decoder's buffer is handed out without a copy, and the buffer let go", () => {
  const d = new FrameDecoder(1 << 20);
  const payload = Uint8Array.from({ length: 300_000 }, (_, i) => i & 0xff);
  const stream = concat([encodeFrame(payload), encodeFrame(Uint8Array.of(7))]);
  const got: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += 65_536) got.push(...d.push(stream.subarray(i, i + 65_536)));
  expect(got.length).toBe(2);
  expect(got[0]!.byteOffset).toBe(4);
  expect(got[0]!.buffer.byteLength).toBe(300_004);
  // The next frames reuse nothing of it: feeding more bytes leaves the first frame as it was.
  d.push(encodeFrame(new Uint8Array(200_000).fill(9)).subarray(0, 150_000));
  expect(Buffer.from(got[0]!).equals(Buffer.from(payload))).toBe(true);
  expect(got[1]).toEqual(Uint8Array.of(7));
});

test("a header over the limit split across chunks is refused once complete", () => {
  const d = new FrameDecoder(100);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 101);
  expect(d.push(header.subarray(0, 2))).toEqual([]);
  expect(() => d.push(header.subarray(2))).toThrow(DecodeError);
  const d2 = new FrameDecoder(100);
  // A valid frame then an oversized header in the same chunk.
  expect(() => d2.push(concat([encodeFrame(Uint8Array.of(1)), header]))).toThrow(DecodeError);
});
