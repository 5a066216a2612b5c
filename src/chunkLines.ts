/** Cutting a result into chunks, so no broker message or frame carries a giant report. */

/**
 * Join CSV lines into chunks of about `chunkBytes` characters as they come, calling `onLine` per
 * line; yields nothing for no lines (callers send one empty last chunk then).
 */
export function* chunkLines(lines: Iterable<string>, chunkBytes: number, onLine: () => void = () => {}): Generator<string> {
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    onLine();
    current.push(line);
    size += line.length;
    if (size >= chunkBytes) {
      yield current.join("");
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) yield current.join("");
}
