import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AggregatorStore } from "./aggregatorStore.ts";
import { encodeMessage } from "./codec.ts";
import { GatewayStore } from "./gatewayStore.ts";
import { pingHealth, startHealthServer } from "./health.ts";
import { q3Reducer } from "./queries/q3.ts";

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tempDir = (): string => { const d = mkdtempSync(join(tmpdir(), "coffee-replay-")); dirs.push(d); return d; };

/** Records in each log: enough for a replay that holds the loop for many slices on any machine. */
const RECORDS = 150_000;

/**
 * Whether a health check sent as `replay` starts is answered before it ends: only if the replay
 * lets the event loop run, since the server's and the pinger's sockets are both read by it.
 */
async function answeredDuring(replay: () => Promise<unknown>): Promise<boolean> {
  const health = await startHealthServer({ port: 0, host: "127.0.0.1", status: () => ({ role: "test", name: "replay", state: "starting" }) });
  try {
    let over = false;
    const answered = pingHealth("127.0.0.1", health.port, 60_000).then((reply) => reply !== null && !over);
    const started = performance.now();
    await replay();
    over = true;
    // A replay too short to span several 50 ms slices would prove nothing either way.
    expect(performance.now() - started).toBeGreaterThan(150);
    return await answered;
  } finally {
    health.close();
  }
}

test("an aggregator replaying a long log answers health checks meanwhile", async () => {
  const dir = tempDir();
  const { store } = await AggregatorStore.open(dir, q3Reducer);
  store.logMessage(encodeMessage({ kind: "data", session: "A", entity: "stores", seq: 0, bodyKind: "stores", body: { id: Int32Array.of(1), name: ["Centro"] } }));
  for (let seq = 0; seq < RECORDS; seq++) {
    store.logMessage(encodeMessage({ kind: "data", session: "A", entity: "transactions", seq, bodyKind: "q3-partial", body: { half: Int32Array.of(20241), store: Int32Array.of(1), cents: Float64Array.of(1) } }));
  }
  await store.commit();
  await store.close();
  let replayed = 0;
  expect(await answeredDuring(async () => { replayed = (await AggregatorStore.open(dir, q3Reducer)).replayed; })).toBe(true);
  expect(replayed).toBe(RECORDS + 1);
}, 60_000);

test("a gateway replaying a long log answers health checks meanwhile", async () => {
  const dir = tempDir();
  const store = await GatewayStore.open(dir);
  for (let i = 0; i < RECORDS; i++) store.open(`5e5510a0-0000-4000-8000-${String(i).padStart(12, "0")}`);
  await store.shutdown();
  let sessions = 0;
  expect(await answeredDuring(async () => { const again = await GatewayStore.open(dir); sessions = again.sessions.size; await again.shutdown(); })).toBe(true);
  expect(sessions).toBe(RECORDS);
}, 60_000);
