/** Cutting a result into chunks, so no broker message or frame carries a giant report. */

/** Join CSV lines into chunks of about `chunkBytes` characters; always at least one chunk. */
export function chunkLines(lines: readonly string[], chunkBytes: number): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    current.push(line);
    size += line.length;
    if (size >= chunkBytes) {
      chunks.push(current.join(""));
      current = [];
      size = 0;
    }
  }
  if (current.length > 0 || chunks.length === 0) chunks.push(current.join(""));
  return chunks;
}
