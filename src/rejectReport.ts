/**
 * Rejected rows per file, and the lines that report them. The client (rows the gateway or
 * its own reader rejected) and `coffee reference` (the same validator, in one process) report
 * alike, so their outputs can be compared line for line.
 */
import { compareCodePoints } from "./textOrder.ts";

/** Rows of one file rejected for one reason. */
export interface ReasonRejects {
  /** e.g. `final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point, leading zeros not counted)`, `7 fields where the header has 9`. */
  reason: string;
  count: number;
  /** Smallest line numbers rejected for this reason, ascending. */
  firstLines: number[];
}

/** The malformed rows of one file: how many, and the smallest line numbers (header = line 1). */
export interface FileRejects {
  /** Path as the report names it, e.g. `transactions/t_202401.csv`. */
  file: string;
  count: number;
  /** Smallest rejected line numbers, ascending, at most the report's `keep`. */
  firstLines: number[];
  /** Why, by reason, most frequent first; rows whose reason is unknown (an older gateway's) are in none. */
  reasons?: ReasonRejects[];
}

function plural(n: number, word: string): string {
  return `${word}${n === 1 ? "" : "s"}`;
}

/** `(lines a, b, ...)`, `...` when lines were left out. */
function lineList(count: number, firstLines: readonly number[]): string {
  const more = count > firstLines.length ? ", ..." : "";
  return `(${plural(firstLines.length, "line")} ${firstLines.join(", ")}${more})`;
}

/** `file: N rows rejected (lines a, b, ...)`, singular for one; `...` when lines were left out. */
export function rejectLine(r: FileRejects): string {
  return `${r.file}: ${r.count} ${plural(r.count, "row")} rejected ${lineList(r.count, r.firstLines)}`;
}

/** `file: reason: N rows (lines a, b, ...)`. */
export function reasonLine(file: string, r: ReasonRejects): string {
  return `${file}: ${r.reason}: ${r.count} ${plural(r.count, "row")} ${lineList(r.count, r.firstLines)}`;
}

/** Files in name order (code points), as every report lists them. */
function byFile(a: { file: string }, b: { file: string }): number {
  return compareCodePoints(a.file, b.file);
}

/**
 * What a run prints about rejected rows, files by name: `rejected: <rejectLine>` for each file,
 * followed by `why: <reasonLine>` for each of its reasons. The `rejected:` lines read as they did
 * before reasons were given, so scripts that parse them keep working.
 */
export function rejectReportLines(files: readonly FileRejects[]): string[] {
  const out: string[] = [];
  for (const f of [...files].sort(byFile)) {
    out.push(`rejected: ${rejectLine(f)}`);
    for (const r of f.reasons ?? []) out.push(`why: ${reasonLine(f.file, r)}`);
  }
  return out;
}

/** Insert `line` into ascending `lines`, keeping at most `keep` of the smallest. */
function keepSmallest(lines: number[], line: number, keep: number): void {
  if (lines.length >= keep && line >= lines[lines.length - 1]!) return;
  let i = lines.length;
  while (i > 0 && lines[i - 1]! > line) i--;
  lines.splice(i, 0, line);
  if (lines.length > keep) lines.pop();
}

interface FileTally {
  file: string;
  count: number;
  firstLines: number[];
  byReason: Map<string, ReasonRejects>;
}

/** Counts rejected rows per file and reason, keeping the `keep` smallest line numbers of each. */
export class RejectReport {
  private readonly byFile = new Map<string, FileTally>();

  constructor(private readonly keep = 5) {}

  /** Record a rejected row at `line` of `file`, and why if known; lines may come in any order (acks do). */
  add(file: string, line: number, reason?: string): void {
    let f = this.byFile.get(file);
    if (!f) this.byFile.set(file, (f = { file, count: 0, firstLines: [], byReason: new Map() }));
    f.count++;
    keepSmallest(f.firstLines, line, this.keep);
    if (reason === undefined) return;
    let r = f.byReason.get(reason);
    if (!r) f.byReason.set(reason, (r = { reason, count: 0, firstLines: [] }));
    r.count++;
    keepSmallest(r.firstLines, line, this.keep);
  }

  /** Total rejected rows. */
  get total(): number {
    let n = 0;
    for (const f of this.byFile.values()) n += f.count;
    return n;
  }

  /** Files with rejected rows, in the order their first one was recorded; reasons most frequent first. */
  files(): FileRejects[] {
    return [...this.byFile.values()].map((f) => {
      const out: FileRejects = { file: f.file, count: f.count, firstLines: [...f.firstLines] };
      if (f.byReason.size > 0) {
        out.reasons = [...f.byReason.values()]
          .map((r) => ({ ...r, firstLines: [...r.firstLines] }))
          .sort((a, b) => b.count - a.count || a.firstLines[0]! - b.firstLines[0]!);
      }
      return out;
    });
  }

  /** One `rejectLine` per file, by file name (no reasons: see rejectReportLines). */
  lines(): string[] {
    return this.files().sort(byFile).map(rejectLine);
  }
}
