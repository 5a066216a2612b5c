/**
 * Imported first by src/main.ts: when this process was started as coffee, re-execute it with the
 * allocator settings (src/allocatorTuning.ts). In the compiled binary this runs before the other
 * modules' code; from source, Bun first evaluates CommonJS dependencies (papaparse, amqplib), so
 * a source run without the settings starts about twice as slowly. Importing main.ts from
 * elsewhere (tests) changes nothing.
 */
import { applyAllocatorEnv, currentProcessImage } from "./allocatorTuning.ts";
import { startedAsCoffee } from "./selfCommand.ts";

if (startedAsCoffee()) applyAllocatorEnv(currentProcessImage());
