/**
 * Rejected rows per file, and the one line that reports them. The client (rows the gateway or
 * its own reader rejected) and `coffee reference` (the same validator, in one process) report
 * alike, so their outputs can be compared line for line.
 */

/** The malformed rows of one file: how many, and the smallest line numbers (header = line 1). */
export interface FileRejects {
  /** Path as the report names it, e.g. `transactions/t_202401.csv`. */
  file: string;
  count: number;
  /** Smallest rejected line numbers, ascending, at most the report's `keep`. */
  firstLines: number[];
}

/** `file: N rows rejected (lines a, b, ...)`, singular for one; `...` when lines were left out. */
export function rejectLine(r: FileRejects): string {
  const more = r.count > r.firstLines.length ? ", ..." : "";
  return `${r.file}: ${r.count} row${r.count === 1 ? "" : "s"} rejected (line${r.firstLines.length === 1 ? "" : "s"} ${r.firstLines.join(", ")}${more})`;
}

/** Counts rejected rows per file, keeping the `keep` smallest line numbers of each. */
export class RejectReport {
  private readonly byFile = new Map<string, FileRejects>();

  constructor(private readonly keep = 5) {}

  /** Record a rejected row at `line` of `file`; lines may come in any order (acks do). */
  add(file: string, line: number): void {
    let f = this.byFile.get(file);
    if (!f) this.byFile.set(file, (f = { file, count: 0, firstLines: [] }));
    f.count++;
    const lines = f.firstLines;
    if (lines.length >= this.keep && line >= lines[lines.length - 1]!) return;
    let i = lines.length;
    while (i > 0 && lines[i - 1]! > line) i--;
    lines.splice(i, 0, line);
    if (lines.length > this.keep) lines.pop();
  }

  /** Total rejected rows. */
  get total(): number {
    let n = 0;
    for (const f of this.byFile.values()) n += f.count;
    return n;
  }

  /** Files with rejected rows, in the order their first one was recorded. */
  files(): FileRejects[] {
    return [...this.byFile.values()].map((f) => ({ ...f, firstLines: [...f.firstLines] }));
  }

  /** One report line per file, by file name. */
  lines(): string[] {
    return this.files().sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)).map(rejectLine);
  }
}
