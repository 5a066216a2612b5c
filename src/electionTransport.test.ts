import { afterAll, expect, test } from "bun:test";
import { startElectionTransport } from "./electionTransport.ts";
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
