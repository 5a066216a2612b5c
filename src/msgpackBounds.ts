/**
 * A walk over msgpack bytes that refuses a container announcing more elements than there are
 * bytes left, before msgpackr sees them. msgpackr allocates an array of the announced length
 * before reading its elements (`new Array(n)`), so a 9-byte frame announcing 10^8 elements made a
 * gateway allocate 800 MB, unauthenticated. Every element takes at least one byte, so a message
 * that passes allocates slots for at most as many elements as it has bytes.
 *
 * Extensions other than typed arrays and `undefined` are refused: msgpackr's others (records,
 * sets, errors, regular expressions, string bundles, references) read values beyond their own
 * bytes, where a walk that skipped them would lose step with the decoder. Protocol messages use
 * none of them.
 */

/** Bytes that follow each fixed-size type byte of 0xc0..0xd3 (the others are read apart). */
const FIXED_SIZE: Record<number, number> = {
  0xc0: 0, 0xc2: 0, 0xc3: 0, // nil, false, true
  0xca: 4, 0xcb: 8, // float32, float64
  0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8, // uint, int
};

/**
 * The extensions msgpackr writes for coffee's messages, both self-contained: 0x00 for a field
 * set to `undefined`, 0x74 for a typed array (moreTypes: a type code, then the array's bytes).
 */
const SELF_CONTAINED_EXTS: ReadonlySet<number> = new Set([0x00, 0x74]);

/** Data bytes of fixext 1..16 (0xd4..0xd8), after the type byte. */
const FIXEXT_SIZE: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };

/**
 * Thrown inside the walk and always caught by msgpackBoundsProblem, which returns its message:
 * the callers raise their own coded errors (FRAME_MALFORMED, MESSAGE_MALFORMED) with it.
 */
class OutOfBounds extends Error {}

function malformed(why: string): never {
  throw new OutOfBounds(why);
}

/**
 * Why `bytes` are not safe to hand to msgpackr, or null when they hold exactly one msgpack value
 * in which no array or map announces more elements than the bytes left could hold, and whose only
 * extensions are typed arrays and `undefined`. Linear in the number of values: strings, binaries
 * and typed arrays are skipped whole.
 *
 * `maxValues` bounds the values in all, map keys included: bytes are not enough of a bound on
 * what they cost, since an empty array or typed array is 1 to 4 bytes on the wire and a hundred
 * times that on the heap (a 16 MiB frame of them, 2 GB), and even a nil takes an 8-byte slot for
 * its 1 byte. For input from outside, where the messages' shapes are known and small.
 */
export function msgpackBoundsProblem(bytes: Uint8Array, maxValues = Infinity): string | null {
  try {
    walk(bytes, maxValues);
    return null;
  } catch (err) {
    if (err instanceof OutOfBounds) return err.message;
    throw err;
  }
}

function walk(bytes: Uint8Array, maxValues: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = 0;
  let values = 0;
  /** Values still to read: each takes at least one byte, so this never exceeds the bytes left. */
  let pending = 1;
  const need = (n: number): number => {
    if (n > end - pos) malformed(`a value announces ${n} bytes where ${end - pos} are left`);
    return n;
  };
  /** Step over `n` bytes of data (called with the length already read, so `pos` is past it). */
  const skip = (n: number): void => {
    pos += need(n);
  };
  const uint = (size: 1 | 2 | 4): number => {
    need(size);
    const v = size === 1 ? bytes[pos]! : size === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += size;
    return v;
  };
  const extension = (size: number): void => {
    need(size + 1);
    const type = bytes[pos]!;
    if (!SELF_CONTAINED_EXTS.has(type)) malformed(`extension type 0x${type.toString(16)} is not one coffee sends`);
    pos += size + 1;
  };
  const elements = (count: number): void => {
    if (pending + count > end - pos) malformed(`a container announces ${count} elements where ${end - pos} bytes are left`);
    pending += count;
  };
  while (pending > 0) {
    if (pos >= end) malformed("it ends before its last value");
    const b = bytes[pos++]!;
    pending--;
    if (++values > maxValues) malformed(`more than ${maxValues} values`);
    if (b <= 0x7f || b >= 0xe0) continue; // positive and negative fixint
    if (b <= 0x8f) { elements(2 * (b & 0x0f)); continue; } // fixmap
    if (b <= 0x9f) { elements(b & 0x0f); continue; } // fixarray
    if (b <= 0xbf) { skip(b & 0x1f); continue; } // fixstr
    const fixed = FIXED_SIZE[b];
    if (fixed !== undefined) { skip(fixed); continue; }
    const fixext = FIXEXT_SIZE[b];
    if (fixext !== undefined) { extension(fixext); continue; }
    switch (b) {
      case 0xc4: case 0xd9: skip(uint(1)); break; // bin8, str8
      case 0xc5: case 0xda: skip(uint(2)); break; // bin16, str16
      case 0xc6: case 0xdb: skip(uint(4)); break; // bin32, str32
      case 0xc7: extension(uint(1)); break; // ext8: length, type, data
      case 0xc8: extension(uint(2)); break; // ext16
      case 0xc9: extension(uint(4)); break; // ext32
      case 0xdc: elements(uint(2)); break; // array16
      case 0xdd: elements(uint(4)); break; // array32
      case 0xde: elements(2 * uint(2)); break; // map16
      case 0xdf: elements(2 * uint(4)); break; // map32
      default: malformed(`0x${b.toString(16)} is not a msgpack type byte`); // 0xc1, never used
    }
  }
  if (pos !== end) malformed(`${end - pos} bytes follow its value`);
}
