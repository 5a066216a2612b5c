#!/usr/bin/env bun
/**
 * The single coffee executable: `coffee --role <role>` (or ROLE=<role>) runs a role,
 * `coffee <tool>` runs a tool (up, gen, reference).
 */
// First, so that a re-execution (allocator settings) happens before most of the program loads.
import "./processTuning.ts";
import { aggregatorCommand } from "../roles/aggregator.ts";
import { clientCommand } from "../roles/client.ts";
import { gatewayCommand } from "../roles/gateway.ts";
import { monitorCommand } from "../roles/monitor.ts";
import { workerCommand } from "../roles/worker.ts";
import type { Command } from "./command.ts";
import { chaosCommand } from "./commands/chaos.ts";
import { composeCommand } from "./commands/compose.ts";
import { demoCommand } from "./commands/demo.ts";
import { genCommand } from "./commands/gen.ts";
import { referenceCommand } from "./commands/reference.ts";
import { statusCommand } from "./commands/status.ts";
import { upCommand } from "./commands/up.ts";
import { CoffeeError, errorMessage } from "./errors.ts";
import { parseOptions, renderHelp, type OptionValues } from "./options.ts";

/** Every role, as `--role` accepts them. */
export const ROLES: readonly Command[] = [gatewayCommand, workerCommand, aggregatorCommand, monitorCommand, clientCommand];
/** Every tool, as the first argument names them. */
export const TOOLS: readonly Command[] = [upCommand, statusCommand, genCommand, referenceCommand, demoCommand, chaosCommand, composeCommand];

/** One line of the top-level help: name and the first sentence of the description. */
function summaryLine(c: Command): string {
  const first = c.description.replace(/\s*\n\s*/g, " ").split(/(?<=\.)\s/)[0] ?? "";
  return `  ${c.name.padEnd(12)} ${first}`;
}

const TOP_HELP = `coffee: a distributed, fault-tolerant analytics engine for the coffee-shop dataset.

Usage:
  coffee --role ROLE [options]     run a role (or set ROLE=<role> in the environment)
  coffee TOOL [options]            run a tool
  coffee [--role ROLE | TOOL] --help

Roles:
${ROLES.map(summaryLine).join("\n")}

Tools:
${TOOLS.map(summaryLine).join("\n")}

Environment: AMQP_URL or AMQP_URL_FILE (broker, default amqp://guest:***@127.0.0.1:5672; amqps:// for TLS,
AMQP_CA_FILE to trust a private CA), COFFEE_NAMESPACE (queue prefix). Secrets are never flags.
`;

/** Pick the command from argv/env; returns it with the remaining arguments. */
function resolve(argv: string[], env: Record<string, string | undefined>): { command: Command | null; rest: string[] } {
  const first = argv[0];
  const tool = TOOLS.find((t) => t.name === first);
  if (tool) return { command: tool, rest: argv.slice(1) };
  const rest = [...argv];
  let role = env.ROLE;
  const i = rest.findIndex((a) => a === "--role" || a.startsWith("--role="));
  if (i >= 0) {
    const arg = rest[i]!;
    if (arg.includes("=")) { role = arg.slice("--role=".length); rest.splice(i, 1); }
    else { role = rest[i + 1]; rest.splice(i, 2); }
  }
  if (role === undefined || role === "") return { command: null, rest };
  const command = ROLES.find((r) => r.name === role);
  if (!command) throw new CoffeeError("CONFIG_INVALID", `unknown role "${role}" (roles: ${ROLES.map((r) => r.name).join(", ")})`);
  return { command, rest };
}

/**
 * Parse a full command line (argv + env) exactly as the executable does, without running it:
 * the command and its validated option values. Throws CoffeeError (CONFIG_INVALID) when refused.
 */
export function parseInvocation(argv: string[], env: Record<string, string | undefined>): { command: Command; values: OptionValues } {
  const { command, rest } = resolve(argv, env);
  if (!command) throw new CoffeeError("CONFIG_INVALID", "no role or tool given (see coffee --help)");
  return { command, values: parseOptions(command.options, rest, env) };
}

/** Entry point; resolves to the exit code. */
export async function main(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  try {
    const { command, rest } = resolve(argv, env);
    if (!command) {
      const wantsHelp = rest.includes("--help") || rest.includes("-h") || rest.length === 0;
      process[wantsHelp ? "stdout" : "stderr"].write(wantsHelp ? TOP_HELP : `coffee: no role or tool given (see coffee --help)\n`);
      return wantsHelp ? 0 : 2;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(renderHelp(command.usage, command.description, command.options));
      return 0;
    }
    const values = parseOptions(command.options, rest, env);
    return await command.run(values);
  } catch (err) {
    process.stderr.write(`coffee: ${err instanceof CoffeeError ? `${err.code}: ` : ""}${errorMessage(err)}\n`);
    return err instanceof CoffeeError && err.code === "CONFIG_INVALID" ? 2 : 1;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
