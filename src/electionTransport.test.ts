import { afterAll, expect, test } from "bun:test";
import { parsePeers, startElectionTransport } from "./electionTransport.ts";
import { ConfigError } from "./errors.ts";
import { freeTcpPort } from "./ports.ts";

const port = freeTcpPort();
const received: unknown[] = [];
const handlerErrors: unknown[] = [];
const { promise: twoArrived, resolve: arrived } = Promise.withResolvers<void>();
const transport = startElectionTransport(port, "127.0.0.1", new Map([[1, { host: "127.0.0.1", port }]]), (m) => {
  received.push(m);
  if (received.length === 2) arrived();
  if ((m as { boom?: boolean }).boom) throw new Error("handler bug");
}, (err) => handlerErrors.push(err));
afterAll(() => transport.close());

test("lines that are not JSON are dropped; a handler's own error is reported, not taken for bad input", async () => {
  // One connection: garbage, then a message whose handler throws, then one more that must still arrive.
  await Bun.connect({
    hostname: "127.0.0.1", port,
    socket: { open(s) { s.write('not json\n{"boom":true}\n{"type":"ok"}\n'); s.end(); }, data() {}, error() {} },
  });
  await twoArrived;
  expect(received).toEqual([{ boom: true }, { type: "ok" }]);
  expect(handlerErrors).toHaveLength(1);
  expect((handlerErrors[0] as Error).message).toBe("handler bug");
});

test("--peers: id=host:port with ports 1..65535, each id once", () => {
  expect([...parsePeers("1=127.0.0.1:7101, 2=monitor-2:7102").entries()]).toEqual([[1, { host: "127.0.0.1", port: 7101 }], [2, { host: "monitor-2", port: 7102 }]]);
  expect(() => parsePeers("1=h:7101,1=h:7102")).toThrow("id 1 is listed twice");
  expect(() => parsePeers("1=h:0")).toThrow("not 1..65535");
  expect(() => parsePeers("1=h:70000")).toThrow("not 1..65535");
  expect(() => parsePeers("1=h")).toThrow("is not id=host:port");
  // Before the shared host:port parser, the brackets stayed in the host and no connection could be made.
  expect([...parsePeers("1=[::1]:7101").entries()]).toEqual([[1, { host: "::1", port: 7101 }]]);
  // Without brackets, as --peers took it before: the last colon ends the address.
  expect([...parsePeers("1=::1:7101,2=fe80::2:7102").entries()]).toEqual([[1, { host: "::1", port: 7101 }], [2, { host: "fe80::2", port: 7102 }]]);
  expect(() => parsePeers("1=a b:7101")).toThrow("is not id=host:port");
});

test("an election port in use is CONFIG_INVALID naming the port, not Bun's bare 'Failed to listen'", () => {
  const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    let err: unknown = null;
    try {
      startElectionTransport(holder.port, "127.0.0.1", new Map(), () => {}, () => {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toStartWith(`cannot listen for election messages on 127.0.0.1:${holder.port} (--election-port, or this id's port in --peers): in use by another process`);
  } finally {
    holder.stop(true);
  }
});
