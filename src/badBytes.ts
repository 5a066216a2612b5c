/**
 * Bytes of a CSV file that are not UTF-8, kept visible through decoding. A TextDecoder writes
 * U+FFFD for them, which a file may also hold as a character: the reader could not tell a row
 * with bad bytes from one with that character. Decoded here instead, each bad byte becomes a
 * lone surrogate, which no decoding of bytes ever yields, so a field holds the mark exactly when
 * its bytes were not UTF-8. Only chunks that fail isUtf8 come here (a per-byte loop).
 */

import { decodeUtf8 } from "./utf8.ts";

/** Stands for one byte that is not part of a UTF-8 character. */
export const BAD_BYTE_MARK = "\uDFFF";
/** Never part of UTF-8: what a mark goes back to, so that decoding again marks it again. */
const NOT_UTF8_BYTE = Buffer.from([0xff]);

/** Whether bytes[i] is a continuation byte within [lo, hi] (0x80..0xBF unless narrowed). */
function isCont(bytes: Uint8Array, i: number, lo: number, hi: number): boolean {
  const c = bytes[i];
  return c !== undefined && c >= lo && c <= hi;
}

/** Length of the UTF-8 character starting at bytes[i], or 0 if none does (RFC 3629: no overlongs, surrogates, or past U+10FFFF). */
function charLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i]!;
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return isCont(bytes, i + 1, 0x80, 0xbf) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    return isCont(bytes, i + 1, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf) && isCont(bytes, i + 2, 0x80, 0xbf) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    return isCont(bytes, i + 1, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf) && isCont(bytes, i + 2, 0x80, 0xbf) && isCont(bytes, i + 3, 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}


/** `bytes` as text, each byte that is not part of a UTF-8 character as BAD_BYTE_MARK. */
export function decodeMarkingBadBytes(bytes: Uint8Array): string {
  const parts: string[] = [];
  let run = 0;
  for (let i = 0; i < bytes.length; ) {
    const n = charLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (run < i) parts.push(decodeUtf8(bytes.subarray(run, i)));
    parts.push(BAD_BYTE_MARK);
    run = ++i;
  }
  if (run < bytes.length) parts.push(decodeUtf8(bytes.subarray(run)));
  return parts.join("");
}

/** `text` as UTF-8, each BAD_BYTE_MARK as a byte that is not UTF-8. */
export function encodeKeepingBadBytes(text: string): Buffer {
  if (!text.includes(BAD_BYTE_MARK)) return Buffer.from(text);
  const parts: Buffer[] = [];
  text.split(BAD_BYTE_MARK).forEach((part, k) => {
    if (k > 0) parts.push(NOT_UTF8_BYTE);
    parts.push(Buffer.from(part));
  });
  return Buffer.concat(parts);
}
