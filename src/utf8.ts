/**
 * Decoding UTF-8 data: what coffee stored itself (sorted runs, the result spool, log payloads)
 * and a CSV file's text past its own byte-order mark (the reader strips that one itself). A
 * leading U+FEFF there is data: a transaction id or a store name may start with one. A default
 * TextDecoder takes it for a byte-order mark and drops it, so an id read back from disk would
 * come out three bytes short, and sort elsewhere than the same id kept in memory. Every decode
 * is whole (not streaming), so one decoder serves every caller.
 */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** `bytes` as text, every character kept (a leading U+FEFF included). */
export function decodeUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
