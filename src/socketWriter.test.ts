import { describe, expect, test } from "bun:test";
import { encodeFrame, FrameDecoder, writeFrame } from "./frame.ts";
import { decodeClientMessage, encodeProtocolTransient } from "./protocol.ts";
import { SocketWriter, type WritableSocket } from "./socketWriter.ts";

/**
 * A socket that takes at most `room` bytes per write until drained, recording what it took and
 * how it was ended; `onEnd` plays the peer closing its side in answer to our end.
 */
function fakeSocket(room: number): WritableSocket & { taken: number[]; room: number; ended: "no" | "end" | "terminate"; onEnd: (() => void) | null } {
  const sock = {
    taken: [] as number[], room, ended: "no" as "no" | "end" | "terminate", onEnd: null as (() => void) | null,
    write(data: Uint8Array): number {
      const n = Math.min(sock.room, data.length);
      sock.taken.push(...data.subarray(0, n));
      sock.room -= n;
      return n;
    },
    end() {
      sock.ended = "end";
      sock.onEnd?.();
    },
    terminate() {
      sock.ended = "terminate";
    },
  };
  return sock;
}

describe("SocketWriter.writeTransient", () => {
  test("what the socket does not take is copied: the caller may overwrite its buffer at once", () => {
    const sock = fakeSocket(3);
    const writer = new SocketWriter(sock);
    const scratch = Uint8Array.of(1, 2, 3, 4, 5, 6);
    writer.writeTransient(scratch);
    scratch.fill(0); // the encoder reuses its buffer for the next message
    writer.writeTransient(Uint8Array.of(7, 8));
    expect(writer.queued).toBe(5);
    sock.room = 100;
    writer.drain();
    expect(sock.taken).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(writer.queued).toBe(0);
  });

  test("writeFrame sends the same bytes as encodeFrame, whatever the socket takes per write", () => {
    for (const room of [0, 1, 3, 4, 5, 1000]) {
      const sock = fakeSocket(room);
      const writer = new SocketWriter(sock);
      const payloads = [Uint8Array.of(9, 8, 7), new Uint8Array(0), Uint8Array.of(42)];
      for (const p of payloads) writeFrame(writer, p);
      sock.room = Infinity;
      writer.drain();
      expect(sock.taken).toEqual(payloads.flatMap((p) => [...encodeFrame(p)]));
    }
  });

  test("transient protocol encodings, sent one after another through writeFrame, decode intact", () => {
    const sock = fakeSocket(10); // most of each message waits in the queue while the next is encoded
    const writer = new SocketWriter(sock);
    writeFrame(writer, encodeProtocolTransient({ t: "hello", v: 3 }));
    writeFrame(writer, encodeProtocolTransient({ t: "eos", entity: "stores", count: 7 }));
    sock.room = Infinity;
    writer.drain();
    const messages = Array.from(new FrameDecoder(1 << 20).push(Uint8Array.from(sock.taken)), (f) => decodeClientMessage(f));
    expect(messages).toEqual([{ t: "hello", v: 3 }, { t: "eos", entity: "stores", count: 7 }]);
  });
});

test("hasRoom is what ready() waits for: queued bytes at most the high-water mark, or a closed socket", async () => {
  const sock = fakeSocket(0);
  const writer = new SocketWriter(sock, 4);
  writer.write(Uint8Array.of(1, 2, 3, 4));
  expect(writer.hasRoom).toBe(true);
  writer.write(Uint8Array.of(5));
  expect(writer.hasRoom).toBe(false);
  // A partial drain that brings the queue back under the mark is enough for ready(): a slow
  // reader is not mistaken for one that reads nothing.
  const ready = writer.ready();
  sock.room = 2;
  writer.drain();
  expect(writer.hasRoom).toBe(true);
  await ready;
  expect(writer.written).toBe(2);
  expect(writer.queued).toBe(3);
  sock.room = 100;
  writer.drain();
  expect(writer.written).toBe(5);
  sock.room = 0;
  writer.write(Uint8Array.of(6, 7, 8, 9, 10));
  expect(writer.hasRoom).toBe(false);
  writer.close();
  expect(writer.hasRoom).toBe(true);
});

describe("SocketWriter.end", () => {
  test("a peer that takes everything within the grace gets a normal end, after the last byte", async () => {
    const sock = fakeSocket(1);
    const writer = new SocketWriter(sock);
    sock.onEnd = () => writer.close(); // the client closes too, as it does after `done`
    writer.write(Uint8Array.of(1, 2, 3));
    const ending = writer.end(60_000);
    expect(sock.ended).toBe("no");
    sock.room = 100;
    writer.drain();
    await ending;
    expect(sock.ended).toBe("end");
    expect(sock.taken).toEqual([1, 2, 3]);
  });

  test("a slow reader that keeps taking bytes is never cut off, however long the whole takes", async () => {
    const sock = fakeSocket(0);
    const writer = new SocketWriter(sock);
    sock.onEnd = () => writer.close();
    writer.write(new Uint8Array(60).fill(7));
    // One byte every 2 ms: the whole takes ~120 ms, six times the 20 ms stall limit.
    const reader = setInterval(() => {
      sock.room = 1;
      writer.drain();
    }, 2);
    await writer.end(20);
    clearInterval(reader);
    expect(sock.ended).toBe("end");
    expect(sock.taken.length).toBe(60);
  });

  test("a peer that took everything but never closes its side is cut off after the grace", async () => {
    const sock = fakeSocket(100);
    const writer = new SocketWriter(sock);
    writer.write(Uint8Array.of(1, 2, 3));
    await writer.end(5);
    expect(sock.taken).toEqual([1, 2, 3]);
    expect(sock.ended).toBe("terminate");
  });

  test("abort cuts the socket off at once, queue dropped, and ends nothing twice", async () => {
    const sock = fakeSocket(2);
    const writer = new SocketWriter(sock);
    writer.write(new Uint8Array(10));
    writer.abort();
    expect(sock.ended).toBe("terminate");
    expect(writer.queued).toBe(0);
    await writer.end(5); // already closed: neither end() nor terminate() again
    expect(sock.ended).toBe("terminate");
  });

  test("a peer that stops reading is cut off after the grace, and its queue is dropped", async () => {
    const sock = fakeSocket(1);
    const writer = new SocketWriter(sock);
    writer.write(new Uint8Array(1000));
    await writer.end(5);
    expect(sock.ended).toBe("terminate");
    expect(writer.queued).toBe(0);
    writer.write(Uint8Array.of(9)); // closed: nothing more is queued or written
    expect(writer.queued).toBe(0);
    expect(sock.taken.length).toBe(1);
  });
});
