/**
 * Imported first by src/main.ts, so that it runs before any other module loads: when this process
 * was started as coffee, re-execute it with the allocator settings (src/allocatorTuning.ts).
 * Importing main.ts from elsewhere (tests) changes nothing.
 */
import { applyAllocatorEnv, currentProcessImage } from "./allocatorTuning.ts";
import { startedAsCoffee } from "./selfCommand.ts";

if (startedAsCoffee()) applyAllocatorEnv(currentProcessImage());
