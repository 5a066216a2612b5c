/**
 * Rewrites README.md's option blocks from the commands' own option lists, so the README
 * cannot drift from `--help` (test/cli.test.ts fails until this is run).
 *
 *   bun test/update-readme.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withOptionBlocks } from "./readmeOptions.ts";

const path = join(import.meta.dir, "..", "README.md");
writeFileSync(path, await withOptionBlocks(readFileSync(path, "utf8")));
console.log("README option blocks updated");
