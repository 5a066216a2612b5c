/** Cutting a result into chunks, so no broker message or frame carries a giant report. */

/**
 * Where a session's result is cut: every `size` units of its CSV text. "bytes" counts UTF-8 bytes,
 * as --chunk-bytes says; "chars" (UTF-16 units) is how logs of builds before the byte count
 * recorded a cut, kept so a result they began publishing is re-cut at the very same lines.
 */
export interface ResultCut {
  size: number;
  unit: "bytes" | "chars";
}

/**
 * Join CSV lines into chunks as they come, each cut after the line that brings it to `cut.size`
 * units (so a chunk is under that plus its last line), calling `onLine` per line; yields
 * nothing for no lines (callers send one empty last chunk then).
 */
export function* chunkLines(lines: Iterable<string>, cut: ResultCut, onLine: () => void = () => {}): Generator<string> {
  const bytes = cut.unit === "bytes";
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    onLine();
    current.push(line);
    // Names of stores and items need not be ASCII: bytes are what the broker and the option count.
    size += bytes ? Buffer.byteLength(line) : line.length;
    if (size >= cut.size) {
      yield current.join("");
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) yield current.join("");
}
