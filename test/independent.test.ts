/**
 * The system on data it has never seen, checked by an oracle it shares no code with: three
 * datasets from the independent Python generator (test/oracle/gen.py: shuffled columns, an extra
 * column, quoted names, window edges, ties, missing store/user, malformed rows), run by three
 * concurrent clients against one `coffee up`; every result file must equal the Python oracle's
 * (test/oracle/oracle.py) byte for byte, and the client must report the same rejected rows.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { QUERIES, queryFileName } from "../src/schema.ts";
import { readResults, runCoffee, sessionDirFrom, startCluster, tempDir, type TestCluster } from "./harness.ts";

// Real processes and a real broker: minutes, not the unit-test default of 5 s.
setDefaultTimeout(180_000);

const ORACLE_DIR = join(import.meta.dir, "oracle");
const PYTHON = Bun.which("python3");
const NO_PYTHON = "python3 is not on PATH: the independent generator and oracle (test/oracle/*.py) need it";
const SEEDS = [101, 202, 303];
const GEN_ARGS = ["--months", "2024-01..2024-03", "--tx-per-month", "2000", "--users", "300"];

/** Rejected rows of one file: count and the first few line numbers, ascending. */
interface Rejects {
  count: number;
  lines: number[];
}

/** Run a Python script; throws with its stderr on failure. */
async function python(script: string, args: string[]): Promise<string> {
  if (!PYTHON) throw new Error(NO_PYTHON);
  const p = Bun.spawn([PYTHON, join(ORACLE_DIR, script), ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${script} ${args.join(" ")} exited ${code}: ${stderr}`);
  return stdout;
}

/**
 * Parse reject report lines `FILE: N row(s) rejected (line(s) a, b, ...)` (the oracle's stdout,
 * or the client's stderr after stripping its `rejected: ` prefix).
 */
function parseRejects(lines: string[]): Map<string, Rejects> {
  const out = new Map<string, Rejects>();
  for (const line of lines) {
    const m = /^(.+): (\d+) rows? rejected \(lines? ([\d, .]+)\)$/.exec(line);
    if (!m) throw new Error(`unrecognised reject line: ${line}`);
    const lineNumbers = m[3]!.split(",").map((s) => s.trim().replace(/\.+$/, "")).filter((s) => /^\d+$/.test(s)).map(Number);
    out.set(m[1]!, { count: Number(m[2]), lines: lineNumbers });
  }
  return out;
}

describe("independent generator and oracle (Python) against the cluster", () => {
  let cluster: TestCluster | undefined;
  const dirs: string[] = [];
  const data: string[] = [];
  const expected: Record<string, string>[] = [];
  const expectedRejects: Map<string, Rejects>[] = [];

  beforeAll(async () => {
    if (!PYTHON) return; // the test fails with NO_PYTHON; nothing to set up
    await Promise.all(SEEDS.map(async (seed, i) => {
      const dir = tempDir(`indep-data${seed}`);
      const out = tempDir(`indep-oracle${seed}`);
      dirs.push(dir, out);
      data[i] = dir;
      await python("gen.py", [dir, "--seed", String(seed), ...GEN_ARGS]);
      const report = await python("oracle.py", [dir, out]);
      expected[i] = Object.fromEntries(QUERIES.map((q) => [q, readFileSync(join(out, queryFileName(q)), "utf8")]));
      expectedRejects[i] = parseRejects(report.split("\n").filter((l) => l !== ""));
    }));
    cluster = await startCluster({ tag: "indep" });
  });

  afterAll(async () => {
    await cluster?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("3 concurrent clients on 3 unseen datasets: every file equals the Python oracle's", async () => {
    if (!PYTHON) throw new Error(NO_PYTHON);
    if (!cluster) throw new Error("cluster did not start");
    const out = tempDir("indep-out");
    dirs.push(out);
    const gateway = `127.0.0.1:${cluster.port}`;
    const runs = await Promise.all(data.map((d) => runCoffee(["--role", "client", "--data", d, "--out", out, "--gateway", gateway, "--quiet"])));
    const sessions = new Set<string>();
    runs.forEach((r, i) => {
      if (r.code !== 0) throw new Error(`client on seed ${SEEDS[i]} exited ${r.code}:\n${r.stderr}`);
      const dir = sessionDirFrom(r.stdout);
      sessions.add(dir);
      const actual = readResults(dir);
      for (const q of QUERIES) expect({ seed: SEEDS[i], query: q, csv: actual[q] }).toEqual({ seed: SEEDS[i], query: q, csv: expected[i]![q]! });

      // The planted malformed rows: the client names the same files, counts and first lines.
      const stderrLines = r.stderr.split("\n").filter((l) => l !== "");
      const rejectLines = stderrLines.filter((l) => l.startsWith("rejected: ")).map((l) => l.slice("rejected: ".length));
      expect(stderrLines.filter((l) => !l.startsWith("rejected: ") && !l.startsWith("why: "))).toEqual([]);
      // Each file's reasons account for every one of its rejected rows (the planted kinds all have one).
      const whyCounts = new Map<string, number>();
      for (const l of stderrLines.filter((x) => x.startsWith("why: "))) {
        const m = /^why: (.+?): .+: (\d+) rows? \(lines? [\d, .]+\)$/.exec(l);
        if (!m) throw new Error(`unrecognised reason line: ${l}`);
        whyCounts.set(m[1]!, (whyCounts.get(m[1]!) ?? 0) + Number(m[2]));
      }
      const got = parseRejects(rejectLines);
      const want = expectedRejects[i]!;
      expect(want.size).toBeGreaterThanOrEqual(4); // gen.py plants malformed rows in 5 files
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [file, w] of want) {
        const g = got.get(file)!;
        expect({ file, count: g.count, explained: whyCounts.get(file) }).toEqual({ file, count: w.count, explained: w.count });
        const n = Math.min(g.lines.length, w.lines.length);
        expect({ file, lines: g.lines.slice(0, n) }).toEqual({ file, lines: w.lines.slice(0, n) });
      }
    });
    expect(sessions.size).toBe(3);
  });
});
