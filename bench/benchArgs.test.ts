import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { docCommentOf, readBenchArgs } from "./benchArgs.ts";

const OPTIONS = { data: { type: "string" }, concurrent: { type: "string", default: "5" } } as const;

test("a script's doc comment, without its markers, is its help", () => {
  const text = docCommentOf(readFileSync(join(import.meta.dir, "wal.ts"), "utf8"));
  expect(text).toStartWith("WAL group commit: 1000 records of 4 KB");
  expect(text).toContain("\n  bun bench/wal.ts [--dir DIR] [--runs N]\n");
  expect(text).not.toContain("*");
  expect(docCommentOf("import x from 'y';\n/** later */")).toBe("");
});

test("--help or -h asks for the help, whatever else is given", () => {
  expect(readBenchArgs(["--data", "d", "--help"], OPTIONS, "scale", "usage\n")).toEqual({ type: "help", text: "usage\n" });
  expect(readBenchArgs(["-h"], OPTIONS, "scale", "usage\n")).toEqual({ type: "help", text: "usage\n" });
});

test("values with their defaults; an unknown option or one without its value is one line naming the script", () => {
  expect(readBenchArgs(["--data", "/tmp/x"], OPTIONS, "scale", "")).toEqual({ type: "values", values: { data: "/tmp/x", concurrent: "5" } });
  const unknown = readBenchArgs(["--clients", "3"], OPTIONS, "scale", "");
  expect(unknown.type).toBe("error");
  expect(unknown.type === "error" && unknown.message).toMatch(/^scale: .*--clients.* \(--help lists its options\)$/);
  const bare = readBenchArgs(["--data"], OPTIONS, "scale", "");
  expect(bare.type === "error" && bare.message).toMatch(/^scale: .*--data.* \(--help lists its options\)$/);
  expect(readBenchArgs(["stray"], OPTIONS, "scale", "").type).toBe("error");
});
