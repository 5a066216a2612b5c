/** How to start another process of this same executable, compiled or run from source. */

/** Path of the entry file when run from source. */
const ENTRY = new URL("./main.ts", import.meta.url).pathname;

/** True in a binary made by `bun build --compile`: its entry runs from Bun's embedded file system. */
function compiled(): boolean {
  return Bun.main.includes("$bunfs") || Bun.main.includes("~BUN");
}

/** argv prefix that runs coffee again: the compiled binary itself, or `bun <main.ts>`. */
export function selfCommand(): string[] {
  return compiled() ? [process.execPath] : [process.execPath, ENTRY];
}

/** True when this process was started as coffee (not, say, a test file importing its modules). */
export function startedAsCoffee(): boolean {
  return compiled() || Bun.main === ENTRY;
}
