/**
 * Loaded before every test file (bunfig.toml). Processes the tests spawn inherit coffee's
 * allocator settings, so each starts once instead of re-executing itself (from source that
 * halves their start-up); test/cli.test.ts clears them to test the re-execution itself.
 */
import { ALLOCATOR_ENV } from "../src/allocatorTuning.ts";

for (const [name, value] of Object.entries(ALLOCATOR_ENV)) process.env[name] ??= value;
