import { expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { scratchDirs } from "../test/harness.ts";
import { rotateLog, startLogRotation } from "./logRotation.ts";

const scratch = scratchDirs();
const fresh = (): string => scratch("coffee-logrot-");

test("a log over the cap moves to .1 and starts again empty; the writer's O_APPEND descriptor writes on at its new start", () => {
  const path = join(fresh(), "gateway.log");
  const child = openSync(path, "a");
  try {
    writeSync(child, "first run\n");
    expect(rotateLog(path, 100)).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("first run\n");
    writeSync(child, "x".repeat(200) + "\n");
    expect(rotateLog(path, 100)).toBe(true);
    expect(readFileSync(`${path}.1`, "utf8")).toBe(`first run\n${"x".repeat(200)}\n`);
    writeSync(child, "after\n");
    // No hole of the old length before it: the descriptor appends at the truncated end.
    expect(readFileSync(path, "utf8")).toBe("after\n");
    writeSync(child, "y".repeat(200) + "\n");
    expect(rotateLog(path, 100)).toBe(true);
    expect(readFileSync(`${path}.1`, "utf8")).toBe(`after\n${"y".repeat(200)}\n`);
    expect(existsSync(`${path}.1.partial`)).toBe(false);
  } finally {
    closeSync(child);
  }
});

test("the rotation moves a running child's log to .1 each time it passes the cap, each line whole in one file or the other; a log it cannot rotate is told and the others still are", async () => {
  const dir = fresh();
  mkdirSync(join(dir, "odd.log")); // not a file: rotating it fails, every tick
  writeFileSync(join(dir, "notes.txt"), "z".repeat(10_000)); // not a log: left alone
  const path = join(dir, "worker.log");
  const fd = openSync(path, "a");
  const line = `${"w".repeat(99)}\n`;
  const child = Bun.spawn(["sh", "-c", `while :; do echo ${line.trim()}; sleep 0.002; done`], { stdout: fd, stderr: fd });
  closeSync(fd);
  const rotated: string[] = [];
  const errors: string[] = [];
  let rotatedTwice: () => void = () => {};
  const twice = new Promise<void>((r) => (rotatedTwice = r));
  const rotation = startLogRotation(dir, 2_000, 10, (name) => {
    rotated.push(name);
    if (rotated.length === 2) rotatedTwice();
  }, (m) => void errors.push(m));
  try {
    await twice;
  } finally {
    rotation.stop();
    child.kill();
    await child.exited;
  }
  expect(new Set(rotated)).toEqual(new Set(["worker.log"]));
  expect(errors.length).toBeGreaterThan(0);
  expect(errors[0]).toContain(join(dir, "odd.log"));
  expect(readFileSync(join(dir, "notes.txt"), "utf8")).toHaveLength(10_000);
  for (const file of [path, `${path}.1`]) {
    const text = readFileSync(file, "utf8");
    expect(text.length % line.length).toBe(0);
    expect(text.replaceAll(line, "")).toBe("");
  }
  expect(readFileSync(`${path}.1`, "utf8").length).toBeGreaterThan(2_000);
});
