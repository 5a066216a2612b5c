/** The shape shared by every role (`--role X`) and tool (`coffee up|gen|reference`). */
import type { OptionSpec, OptionValues } from "./options.ts";

/** A runnable entry point of the single executable: its options, help, and body. */
export interface Command {
  /** Role or tool name as typed by the user. */
  name: string;
  /** One-line usage, shown at the top of `--help`. */
  usage: string;
  /** What it does, shown in `--help`. */
  description: string;
  options: readonly OptionSpec[];
  /** Runs until done; resolves to the process exit code. */
  run(values: OptionValues): Promise<number>;
}
