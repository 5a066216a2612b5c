/**
 * The client's results folder, made ready before a session starts: a folder the results cannot
 * be written to fails the run up front, not after the upload. Folders made for a run that never
 * got a session are removed again, so a failed run leaves no litter.
 */
import { accessSync, constants, existsSync, mkdirSync, rmdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ConfigError, errorMessage } from "./errors.ts";

/** A results folder made ready; `removeIfUnused` undoes what making it created. */
export interface OutDir {
  /** Remove the folders this run made, deepest first, while they are empty. */
  removeIfUnused(): void;
}

/** Make `outDir` (and its missing parents) and check it is writable; a ConfigError if not. */
export function prepareOutDir(outDir: string): OutDir {
  const made = missingFolders(resolve(outDir));
  try {
    mkdirSync(outDir, { recursive: true });
    accessSync(outDir, constants.W_OK);
  } catch (err) {
    throw new ConfigError(`--out ${outDir}: cannot write results there (${errorMessage(err)})`);
  }
  return { removeIfUnused: () => removeEmpty(made) };
}

/** `dir` and those of its ancestors that do not exist yet, deepest first. */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  return missing;
}

/**
 * Remove `made` (deepest first) while they are empty. A folder another client has written into
 * since stays (rmdir refuses a folder that is not empty), and so does every folder above it.
 */
function removeEmpty(made: readonly string[]): void {
  for (const dir of made) {
    try {
      rmdirSync(dir);
    } catch {
      return;
    }
  }
}
