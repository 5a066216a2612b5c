/** How to start another process of this same executable, compiled or run from source. */

/** argv prefix that runs coffee again: the compiled binary itself, or `bun <main.ts>`. */
export function selfCommand(): string[] {
  // A compiled binary runs its entry from Bun's embedded file system.
  if (Bun.main.includes("$bunfs") || Bun.main.includes("~BUN")) return [process.execPath];
  const entry = new URL("./main.ts", import.meta.url).pathname;
  return [process.execPath, entry];
}
