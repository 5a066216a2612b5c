/** How to start another process of this same executable, compiled or run from source. */
import { fileURLToPath } from "node:url";

/** Path of the entry file when run from source (fileURLToPath: a checkout path may hold spaces). */
const ENTRY = fileURLToPath(new URL("./main.ts", import.meta.url));

/** What decides how coffee is started again: Bun's view of this process. */
export interface RuntimeView {
  main: string;
  execPath: string;
  execArgv: readonly string[];
}

const CURRENT: RuntimeView = { main: Bun.main, execPath: process.execPath, execArgv: process.execArgv };

/** True in a binary made by `bun build --compile`: its entry runs from Bun's embedded file system. */
function compiled(view: RuntimeView): boolean {
  return view.main.includes("$bunfs") || view.main.includes("~BUN");
}

/** argv prefix that runs coffee again: the compiled binary itself, or `bun <main.ts>`. */
export function selfCommand(view: RuntimeView = CURRENT): string[] {
  return compiled(view) ? [view.execPath] : [view.execPath, ENTRY];
}

/**
 * argv prefix that starts this very process again (src/allocatorTuning.ts). From source, Bun's
 * own flags (`bun --cpu-prof src/main.ts`) are not in argv and go before the entry. A compiled
 * binary's execArgv comes from BUN_OPTIONS, which the environment carries anyway: passed as
 * arguments, coffee would take them for its own options.
 */
export function restartCommand(view: RuntimeView = CURRENT): string[] {
  return compiled(view) ? [view.execPath] : [view.execPath, ...view.execArgv, ENTRY];
}

/** True when this process was started as coffee (not, say, a test file importing its modules). */
export function startedAsCoffee(view: RuntimeView = CURRENT): boolean {
  return compiled(view) || view.main === ENTRY;
}
