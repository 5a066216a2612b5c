/** Files replaced atomically, so readers (monitors, tests) never see half a file. */
import { renameSync, writeFileSync } from "node:fs";

/** Write `value` as JSON to `path` via a temporary file and a rename. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, path);
}
