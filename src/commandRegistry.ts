/**
 * Every role and tool by name, loaded on demand: a process loads only its own command's code
 * (a worker does not load the dashboard, Docker client, generator or reference), which keeps
 * ~18 MB of modules out of each process of a cluster.
 */
import type { Command } from "./command.ts";

/** A command known by name, whose module is imported only when it runs or shows its help. */
export interface CommandEntry {
  name: string;
  load(): Promise<Command>;
}

/** Every role, as `--role` accepts them. */
export const ROLE_ENTRIES: readonly CommandEntry[] = [
  { name: "gateway", load: async () => (await import("../roles/gateway.ts")).gatewayCommand },
  { name: "worker", load: async () => (await import("../roles/worker.ts")).workerCommand },
  { name: "aggregator", load: async () => (await import("../roles/aggregator.ts")).aggregatorCommand },
  { name: "monitor", load: async () => (await import("../roles/monitor.ts")).monitorCommand },
  { name: "client", load: async () => (await import("../roles/client.ts")).clientCommand },
];

/** Every tool, as the first argument names them. */
export const TOOL_ENTRIES: readonly CommandEntry[] = [
  { name: "up", load: async () => (await import("./commands/up.ts")).upCommand },
  { name: "status", load: async () => (await import("./commands/status.ts")).statusCommand },
  { name: "ping", load: async () => (await import("./commands/ping.ts")).pingCommand },
  { name: "gen", load: async () => (await import("./commands/gen.ts")).genCommand },
  { name: "reference", load: async () => (await import("./commands/reference.ts")).referenceCommand },
  { name: "demo", load: async () => (await import("./commands/demo.ts")).demoCommand },
  { name: "chaos", load: async () => (await import("./commands/chaos.ts")).chaosCommand },
  { name: "compose", load: async () => (await import("./commands/compose.ts")).composeCommand },
];

/** Every command loaded (top-level help, README option blocks). */
export async function loadAll(entries: readonly CommandEntry[]): Promise<Command[]> {
  return Promise.all(entries.map((e) => e.load()));
}
