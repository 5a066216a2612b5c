/** Cutting a result into chunks, so no broker message or frame carries a giant report. */

/**
 * Join CSV lines into chunks as they come, each cut after the line that brings it to `chunkBytes`
 * UTF-8 bytes (so a chunk is under `chunkBytes` plus its last line), calling `onLine` per line;
 * yields nothing for no lines (callers send one empty last chunk then).
 */
export function* chunkLines(lines: Iterable<string>, chunkBytes: number, onLine: () => void = () => {}): Generator<string> {
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    onLine();
    current.push(line);
    // Bytes, as the option says and the broker counts; names of stores and items need not be ASCII.
    size += Buffer.byteLength(line);
    if (size >= chunkBytes) {
      yield current.join("");
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) yield current.join("");
}
