/** `coffee gen`: options and entry point of the synthetic dataset generator (logic in generator.ts). */
import type { Command } from "../command.ts";
import { bool, int, str, type OptionSpec, type OptionValues } from "../options.ts";
import { DEFAULT_MONTHS, formatSummary, generateDataset, parseMonthRange, type GenConfig } from "../generator.ts";

/** Options of `coffee gen`, each also settable through its COFFEE_GEN_* environment variable. */
export const GEN_OPTIONS: readonly OptionSpec[] = [
  { name: "out", type: "string", env: "COFFEE_GEN_OUT", default: "./data", help: "dataset directory to write (one folder per entity)" },
  { name: "seed", type: "int", env: "COFFEE_GEN_SEED", default: 1, min: 0, max: 4294967295, help: "random seed; same seed and options give identical files" },
  { name: "months", type: "string", env: "COFFEE_GEN_MONTHS", default: DEFAULT_MONTHS, help: "months to generate, YYYY-MM..YYYY-MM" },
  { name: "transactions-per-month", type: "int", env: "COFFEE_GEN_TRANSACTIONS_PER_MONTH", default: 2000, min: 1, max: 10_000_000, help: "transactions per month (plus a few that force Q2 ties)" },
  { name: "users", type: "int", env: "COFFEE_GEN_USERS", default: 2000, min: 1, max: 100_000_000, help: "registered users, spread over the months" },
  { name: "stores", type: "int", env: "COFFEE_GEN_STORES", default: 10, min: 1, max: 10_000, help: "stores in stores.csv (transactions also name 2 unknown ones)" },
  { name: "menu-items", type: "int", env: "COFFEE_GEN_MENU_ITEMS", default: 8, min: 1, max: 1000, help: "items in menu_items.csv" },
  { name: "quiet", type: "bool", env: "COFFEE_GEN_QUIET", default: false, help: "no progress lines on stderr" },
];

/** Turn parsed option values into a generator config; ConfigError names a bad option. */
export function resolveGenConfig(values: OptionValues): GenConfig {
  const out = str(values, "out");
  return {
    out,
    seed: int(values, "seed"),
    months: parseMonthRange(str(values, "months")),
    transactionsPerMonth: int(values, "transactions-per-month"),
    users: int(values, "users"),
    stores: int(values, "stores"),
    menuItems: int(values, "menu-items"),
  };
}

/** `coffee gen`: writes the dataset, progress on stderr, a one-line summary on stdout. */
export const genCommand: Command = {
  name: "gen",
  usage: "coffee gen [--out DIR] [--seed N] [--months YYYY-MM..YYYY-MM] [options]",
  description:
    "Writes a deterministic synthetic dataset with the public dataset's schema and quirks. Target folders must not hold CSVs this run would not overwrite.",
  options: GEN_OPTIONS,
  async run(values: OptionValues): Promise<number> {
    const config = resolveGenConfig(values);
    const quiet = bool(values, "quiet");
    const summary = await generateDataset(config, quiet ? undefined : (line) => process.stderr.write(`${line}\n`));
    process.stdout.write(`${formatSummary(summary)}\n`);
    return 0;
  },
};
