/**
 * One-client throughput through a local cluster on the broker at AMQP_URL, against the
 * single-process `coffee reference` on the same data. Appends a line to
 * bench/results/history.jsonl so regressions show.
 *
 *   bun bench/throughput.ts [--transactions-per-month N] [--months A..B] [--replicas spec] [--deploy fused|split]
 */
import { freeTcpPort } from "../src/ports.ts";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { QUERIES, queryFileName } from "../src/schema.ts";
import { benchArgs } from "./benchArgs.ts";

const values = benchArgs(import.meta.path, {
  "transactions-per-month": { type: "string", default: "330000" },
  months: { type: "string", default: "2024-05..2024-05" },
  users: { type: "string", default: "40000" },
  replicas: { type: "string", default: "" },
  deploy: { type: "string", default: "fused" },
  work: { type: "string", default: "/tmp/coffee-bench" },
});
const root = join(import.meta.dir, "..");
const bin = existsSync(join(root, "dist/coffee")) ? [join(root, "dist/coffee")] : [process.execPath, join(root, "src/main.ts")];
const work = values.work!;
const data = join(work, `data-${values.months}-${values["transactions-per-month"]}`);
mkdirSync(work, { recursive: true });

async function run(args: string[]): Promise<{ stdout: string; seconds: number }> {
  const t = performance.now();
  const p = Bun.spawn([...bin, ...args], { stdout: "pipe", stderr: "inherit" });
  const stdout = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error(`${args.join(" ")} failed`);
  return { stdout, seconds: (performance.now() - t) / 1000 };
}

if (!existsSync(data)) await run(["gen", "--out", data, "--months", values.months!, "--transactions-per-month", values["transactions-per-month"]!, "--users", values.users!, "--quiet"]);
const ref = await run(["reference", "--data", data, "--out", join(work, "ref"), "--quiet"]);
const rows = Number(/^reference: (\d+) rows read,/m.exec(ref.stdout)?.[1] ?? 0);

const port = freeTcpPort();
const ns = `bench${port}`;
const up = Bun.spawn([...bin, "up", "--state-dir", join(work, "state"), "--port", String(port), "--namespace", ns, "--monitors", "1", "--delete-on-exit", "--deploy", values.deploy!, ...(values.replicas ? ["--replicas", values.replicas] : [])], { stdout: "pipe", stderr: "ignore" });
const reader = up.stdout.getReader();
for (let text = ""; !text.includes("ready"); ) {
  const { value, done } = await reader.read();
  if (done) throw new Error("coffee up exited before ready");
  text += new TextDecoder().decode(value);
}
const out = join(work, "out");
rmSync(out, { recursive: true, force: true });
const client = await run(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${port}`, "--quiet"]);
up.kill("SIGTERM");
await up.exited;
const dir = /results in (\S+)/.exec(client.stdout)![1]!;
const exact = QUERIES.every((q) => readFileSync(join(dir, queryFileName(q)), "utf8") === readFileSync(join(work, "ref", queryFileName(q)), "utf8"));

const result = {
  date: new Date().toISOString(), rows, months: values.months, replicas: values.replicas || "default", deploy: values.deploy,
  clusterSeconds: +client.seconds.toFixed(2), clusterRowsPerSecond: Math.round(rows / client.seconds),
  referenceSeconds: +ref.seconds.toFixed(2), referenceRowsPerSecond: Math.round(rows / ref.seconds), exact,
};
console.log(`| rows | cluster s | cluster rows/s | reference s | reference rows/s | exact |`);
console.log(`| ---: | ---: | ---: | ---: | ---: | --- |`);
console.log(`| ${rows} | ${result.clusterSeconds} | ${result.clusterRowsPerSecond} | ${result.referenceSeconds} | ${result.referenceRowsPerSecond} | ${exact} |`);
appendFileSync(join(import.meta.dir, "results", "history.jsonl"), JSON.stringify(result) + "\n");
process.exit(exact ? 0 : 1);
