/** Counts rejected rows per file and keeps the first few line numbers for the report. */

const FIRST_LINES = 5;

interface FileRejects {
  count: number;
  lines: number[];
}

/** Rejected rows of a whole dataset, per file. */
export class RejectReport {
  private readonly files = new Map<string, FileRejects>();

  /** Record a rejected row at `line` of `file`. */
  add(file: string, line: number): void {
    let f = this.files.get(file);
    if (!f) this.files.set(file, (f = { count: 0, lines: [] }));
    f.count++;
    // Keep the smallest line numbers: acks may arrive out of file order.
    if (f.lines.length < FIRST_LINES || line < f.lines[f.lines.length - 1]!) {
      f.lines.push(line);
      f.lines.sort((a, b) => a - b);
      if (f.lines.length > FIRST_LINES) f.lines.pop();
    }
  }

  /** Total rejected rows. */
  get total(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.count;
    return n;
  }

  /** One line per file: `path: N rows rejected (lines a, b, c, ...)`. */
  lines(): string[] {
    return [...this.files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([file, f]) => {
      const sorted = f.lines;
      return `${file}: ${f.count} row${f.count === 1 ? "" : "s"} rejected (line${sorted.length === 1 ? "" : "s"} ${sorted.join(", ")}${f.count > sorted.length ? ", ..." : ""})`;
    });
  }
}
