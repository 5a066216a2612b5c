import { describe, expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { decodeMessage, encodeMessage } from "./codec.ts";
import { msgpackBoundsProblem } from "./msgpackBounds.ts";
import { decodeClientMessage, encodeProtocol, MAX_CLIENT_FRAME_VALUES } from "./protocol.ts";
import { ENTITY_COLUMNS } from "./schema.ts";
import { packColumn } from "./textColumn.ts";

const packr = new Packr({ useRecords: false, moreTypes: true });

/** Why msgpackBoundsProblem refuses `bytes`, or null if it accepts them. */
function refusal(bytes: Uint8Array | number[]): string | null {
  return msgpackBoundsProblem(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
}

describe("msgpackBoundsProblem", () => {
  test("every kind of value msgpackr writes for coffee passes, whatever its size class", () => {
    const values: unknown[] = [
      0, 127, 128, 255, 65_535, 65_536, 2 ** 32, -1, -33, -129, -32_769, -(2 ** 31) - 1, 1.5, true, false, null,
      "", "a".repeat(31), "a".repeat(32), "a".repeat(256), "a".repeat(65_536),
      new Uint8Array(0), new Uint8Array(300), new Uint8Array(70_000), Uint32Array.of(1, 2, 3), new Uint32Array(20_000),
      [], Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 70_000 }, () => 0),
      undefined, { field: undefined }, {}, Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])), { nested: [{ a: [[], {}] }] },
    ];
    for (const v of values) expect(refusal(packr.pack(v))).toBeNull();
    expect(refusal(encodeProtocol({ t: "batch", entity: "stores", seq: 3, lines: Uint32Array.of(2, 3), columns: [packColumn(["1", "2"]), packColumn(["a", "b, c"])] }))).toBeNull();
  });

  test("a container announcing more elements than bytes are left is refused before msgpackr allocates it", () => {
    // The 9-byte frame that made a gateway allocate 800 MB: an array32 of 10^8 elements.
    expect(refusal([0xdd, 0x05, 0xf5, 0xe1, 0x00])).toBe("a container announces 100000000 elements where 0 bytes are left");
    expect(refusal([0xdf, 0x00, 0x10, 0x00, 0x00, 0x01, 0x02])).toContain("announces 2097152 elements");
    // Deep inside a valid-looking message, and counting the values still owed by outer containers.
    expect(refusal([0x81, 0xa1, 0x78, 0x92, 0xdc, 0x00, 0x03, 0x01, 0x02, 0x03])).toContain("announces 3 elements where 3 bytes are left");
    expect(refusal([0x92, 0x91, 0x01])).toBe("a container announces 1 elements where 1 bytes are left");
    expect(refusal([0x92, 0x01])).toBe("a container announces 2 elements where 1 bytes are left");
  });

  test("values are bounded by maxValues, not by bytes alone: 10^5 empty arrays, typed arrays or nils in at most 400 KB", () => {
    const many = (item: number[], n: number): Uint8Array => {
      const out = [0xdd, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
      for (let i = 0; i < n; i++) out.push(...item);
      return Uint8Array.from(out);
    };
    const arrays = many([0x90], 100_000);
    expect(refusal(arrays)).toBeNull();
    for (const item of [[0x90], [0xc7, 0x01, 0x74, 0x01], [0xc0]]) expect(msgpackBoundsProblem(many(item, 100_000), 1024)).toBe("more than 1024 values");
    expect(() => decodeClientMessage(many([0xc0], 100_000))).toThrow(`more than ${MAX_CLIENT_FRAME_VALUES} values`);
    // The largest client message, a transactions batch, stays far under the client frames' budget.
    const batch = encodeProtocol({ t: "batch", entity: "transactions", seq: 1, lines: Uint32Array.of(2), columns: ENTITY_COLUMNS.transactions.map(() => packColumn(["x"])) });
    expect(msgpackBoundsProblem(batch, 36)).toBeNull();
    expect(msgpackBoundsProblem(batch, 35)).toBe("more than 35 values");
  });

  test("strings, binaries and extensions longer than the bytes left, other extensions, unused bytes and trailing bytes are refused", () => {
    expect(refusal([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61])).toContain("announces 4294967295 bytes where 1 are left");
    expect(refusal([0xc6, 0x00, 0x00, 0x01, 0x00])).toContain("announces 256 bytes");
    expect(refusal([0xa5, 0x61])).toContain("announces 5 bytes");
    expect(refusal(packr.pack(new Set([1, 2])))).toContain("extension type 0x73 is not one coffee sends");
    expect(refusal(packr.pack(new Date(0)))).toContain("extension type 0xff");
    expect(refusal([0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61])).toContain("extension type 0x72");
    expect(refusal([0xc1])).toBe("0xc1 is not a msgpack type byte");
    expect(refusal([0x01, 0x02])).toBe("1 bytes follow its value");
    expect(refusal([])).toBe("it ends before its last value");
  });

  test("a client frame and a broker message announcing 10^8 elements are refused with the walk's reason, not msgpackr's", () => {
    expect(() => decodeClientMessage(Uint8Array.from([0xdd, 0x05, 0xf5, 0xe1, 0x00]))).toThrow("frame is not valid msgpack: a container announces 100000000 elements");
    let err: unknown;
    try {
      decodeClientMessage(Uint8Array.from([0xdd, 0x05, 0xf5, 0xe1, 0x00]));
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe("FRAME_MALFORMED");
    // A broker message: magic, version, kind, then the payload.
    const broker = Uint8Array.from([...encodeMessage({ kind: "purge", session: "s", reason: "r" }).subarray(0, 3), 0xdd, 0x05, 0xf5, 0xe1, 0x00]);
    expect(() => decodeMessage(broker)).toThrow("announces 100000000 elements");
  });

  test("on mutated and cut messages the walk returns a reason or null and never throws (no read past the end); it accepts the intact one", () => {
    const base = encodeProtocol({ t: "batch", entity: "users", seq: 9, lines: Uint32Array.of(2, 3, 4), columns: [packColumn(["1", "2", "3"]), packColumn(["x", "y", "z"])] });
    expect(refusal(base)).toBeNull();
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const bytes = base.slice(0, base.length - random(4));
      for (let k = 0; k <= random(3); k++) bytes[random(bytes.length)] = random(256);
      // Any other error (a RangeError from the DataView, say) would escape refusal() and fail the test.
      if (refusal(bytes) !== null) refused++;
    }
    expect(refused).toBeGreaterThan(1000);
  });
});

test("every truncation of a header (lengths, counts, extension type) is a reason, never a thrown RangeError/TypeError", () => {
  const headers = [
    [0xdc, 0x00], [0xdd, 0x00, 0x00, 0x00], [0xde, 0x00], [0xdf, 0x00, 0x00],
    [0xc4], [0xc5, 0x00], [0xc6, 0x00, 0x00, 0x00], [0xd9], [0xda, 0x00], [0xdb, 0x00, 0x00],
    [0xc7, 0x00], [0xc8, 0x00, 0x00], [0xc9, 0x00, 0x00, 0x00, 0x00], [0xd4], [0xd8],
    [0x91, 0xc7, 0x00],
  ];
  for (const h of headers) {
    const problem = msgpackBoundsProblem(Uint8Array.from(h));
    expect([h, typeof problem]).toEqual([h, "string"]);
  }
});
