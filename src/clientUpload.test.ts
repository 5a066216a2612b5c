import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoundedQueue } from "./boundedQueue.ts";
import { ClientUpload, uploadDataset, type SendEvents, type UploadConnection, type UploadItem } from "./clientUpload.ts";
import type { ClientMessage } from "./protocol.ts";
import type { Entity } from "./schema.ts";

/** A connection that keeps what is sent on it. */
class FakeConnection implements UploadConnection {
  readonly sent: ClientMessage[] = [];
  send(msg: ClientMessage): void {
    this.sent.push(msg);
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
}

/** What went out, briefly: `batch stores#0`, `eos stores 2`, `resent`. */
const said = (conn: FakeConnection): string[] =>
  conn.sent.map((m) => (m.t === "batch" ? `batch ${m.entity}#${m.seq}` : m.t === "eos" ? `eos ${m.entity} ${m.count}` : m.t));

/** Let every pending promise continuation run. */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

const batch = (entity: Entity, rows: number, bytes = 0): UploadItem => ({ entity, batch: { file: `${entity}/a.csv`, columns: [], lines: Array.from({ length: rows }, (_, i) => i + 2), bytesRead: bytes }, bytes });
const eos = (entity: Entity, count: number): UploadItem => ({ entity, eos: count });

/** Send events as lines, in order. */
function recorder(): { events: SendEvents; log: string[] } {
  const log: string[] = [];
  return {
    log,
    events: {
      started: (entity) => void log.push(`started ${entity}`),
      sent: (entity, rows, bytes) => void log.push(`sent ${entity} ${rows} ${bytes}`),
      ended: (entity) => void log.push(`ended ${entity}`),
    },
  };
}

/** A sender fed by hand: `push` items, `close` when done. */
function feed(upload: ClientUpload, events = recorder().events): { push(...items: UploadItem[]): Promise<void>; close(): void; done: Promise<void> } {
  const queue = new BoundedQueue<UploadItem>(100);
  return {
    push: async (...items) => {
      for (const item of items) await queue.push(item);
      await flush();
    },
    close: () => queue.close(),
    done: upload.sendAll(queue.drain(), events),
  };
}

test("a full window blocks the sender until an ack makes room", async () => {
  const conn = new FakeConnection();
  const upload = new ClientUpload(2, () => conn);
  const sender = feed(upload);
  await sender.push(batch("stores", 1), batch("stores", 1), batch("stores", 1));
  expect(said(conn)).toEqual(["batch stores#0", "batch stores#1"]);
  expect(upload.unacked).toBe(2);
  expect(upload.ack("stores", 1)).toEqual({ file: "stores/a.csv", rows: 1 });
  await flush();
  expect(said(conn)).toEqual(["batch stores#0", "batch stores#1", "batch stores#2"]);
  sender.close();
  await sender.done;
});

test("a window lowered by the welcome holds fewer batches", async () => {
  const conn = new FakeConnection();
  const upload = new ClientUpload(8, () => conn);
  upload.limit = 1;
  const sender = feed(upload);
  await sender.push(batch("stores", 1), batch("stores", 1));
  expect(said(conn)).toEqual(["batch stores#0"]);
  upload.ack("stores", 0);
  await flush();
  expect(said(conn)).toEqual(["batch stores#0", "batch stores#1"]);
  sender.close();
  await sender.done;
});

test("an ack for a batch acknowledged already (the old connection's, after a resume) is ignored", async () => {
  const conn = new FakeConnection();
  const upload = new ClientUpload(4, () => conn);
  const sender = feed(upload);
  await sender.push(batch("stores", 3), batch("stores", 2));
  expect(upload.ack("stores", 0)).toEqual({ file: "stores/a.csv", rows: 3 });
  upload.resend();
  expect(upload.ack("stores", 0)).toBeNull();
  expect(upload.unacked).toBe(1);
  // Never sent at all: nothing to acknowledge either.
  expect(upload.ack("users", 0)).toBeNull();
  sender.close();
  await sender.done;
});

test("a resume sends the unacknowledged batches, then the unconfirmed ends of stream, then resent", async () => {
  let conn: FakeConnection | null = new FakeConnection();
  const upload = new ClientUpload(8, () => conn);
  const sender = feed(upload);
  await sender.push(batch("stores", 1), batch("stores", 1), eos("stores", 2), batch("menu_items", 1), eos("menu_items", 1), batch("users", 1));
  upload.ack("stores", 0);
  upload.ack("menu_items", 0);
  upload.eosAck("menu_items");
  // The connection is lost and a new one welcomed: what the gateway confirmed stays behind.
  conn = new FakeConnection();
  upload.resend();
  expect(said(conn)).toEqual(["batch stores#1", "batch users#0", "eos stores 2", "resent"]);
  expect(upload.resumeCounts()).toEqual({ sent: { stores: 2, menu_items: 1, users: 1 }, eos: ["menu_items"] });
  sender.close();
  await sender.done;
});

test("without a welcomed connection the sender waits; an end of stream is kept for the resume", async () => {
  let conn: FakeConnection | null = null;
  const upload = new ClientUpload(8, () => conn);
  const sender = feed(upload);
  await sender.push(eos("stores", 0), batch("users", 2));
  expect(upload.unacked).toBe(0);
  const resumed = new FakeConnection();
  conn = resumed;
  upload.resend();
  await flush();
  expect(said(resumed)).toEqual(["eos stores 0", "resent", "batch users#0"]);
  sender.close();
  await sender.done;
});

test("the run's end wakes a waiting sender, and nothing more goes out", async () => {
  const conn = new FakeConnection();
  const upload = new ClientUpload(1, () => conn);
  const sender = feed(upload);
  await sender.push(batch("stores", 1), batch("stores", 1), batch("stores", 1));
  upload.stop();
  await sender.done;
  expect(said(conn)).toEqual(["batch stores#0"]);
  upload.ack("stores", 0);
  await flush();
  expect(said(conn)).toEqual(["batch stores#0"]);
});

test("the sender says when an entity starts, each batch sent, and its end", async () => {
  const conn = new FakeConnection();
  const upload = new ClientUpload(8, () => conn);
  const { events, log } = recorder();
  const sender = feed(upload, events);
  await sender.push(batch("stores", 2, 30), batch("stores", 1, 45), eos("stores", 2), eos("users", 0));
  sender.close();
  await sender.done;
  expect(log).toEqual(["started stores", "sent stores 2 30", "sent stores 1 45", "ended stores", "started users", "ended users"]);
  expect(said(conn)).toEqual(["batch stores#0", "batch stores#1", "eos stores 2", "eos users 0"]);
});

const dir = mkdtempSync(join(tmpdir(), "coffee-upload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("uploadDataset reads each entity's files into batches and an end of stream, rows it rejects reported", async () => {
  const a = join(dir, "a.csv");
  const b = join(dir, "b.csv");
  writeFileSync(a, "store_id,store_name\n1,A\n2,B\n3\n4,D\n");
  writeFileSync(b, "store_id,store_name\n5,E\n");
  const conn = new FakeConnection();
  const upload = new ClientUpload(8, () => conn);
  const rejected: string[] = [];
  const { events, log } = recorder();
  await uploadDataset({
    order: ["stores", "users"],
    files: new Map<Entity, { path: string; label: string }[]>([["stores", [{ path: a, label: "stores/a.csv" }, { path: b, label: "stores/b.csv" }]], ["users", []]]),
    fileSizes: new Map([[a, statSync(a).size], [b, statSync(b).size]]),
    batchRows: 2,
    batchBytes: 1 << 20,
    reject: (entity, file, line, reason) => void rejected.push(`${entity} ${file}:${line} ${reason.length > 0}`),
  }, upload, events);
  expect(said(conn)).toEqual(["batch stores#0", "batch stores#1", "batch stores#2", "eos stores 3", "eos users 0"]);
  const lines = conn.sent.flatMap((m) => (m.t === "batch" ? [[...m.lines]] : []));
  expect(lines).toEqual([[2, 3], [5], [2]]);
  expect(rejected).toEqual(["stores stores/a.csv:4 true"]);
  // The second file's bytes count after the whole first file's.
  expect(log.at(-4)).toBe(`sent stores 1 ${statSync(a).size + statSync(b).size}`);
  expect(upload.ack("stores", 2)).toEqual({ file: "stores/b.csv", rows: 1 });
});
