import { expect, test } from "bun:test";
import { isConnectablePort, joinHostPort, splitHostPort } from "./hostPort.ts";

test("names, IPv4 and bracketed IPv6 (zones too) split; brackets are dropped", () => {
  expect(splitHostPort("127.0.0.1:9000")).toEqual({ host: "127.0.0.1", port: 9000 });
  expect(splitHostPort("monitor-2:9200")).toEqual({ host: "monitor-2", port: 9200 });
  expect(splitHostPort("[::1]:65535")).toEqual({ host: "::1", port: 65535 });
  expect(splitHostPort("[fe80::1%eth0]:9000")).toEqual({ host: "fe80::1%eth0", port: 9000 });
});

test("a scheme, a path, a space, bare IPv6, no host or no port is not host:port", () => {
  for (const bad of ["http://h:9000", "h:9000/", "a b:9000", "::1:9000", ":9000", "h", "h:", "h:123456"]) expect(splitHostPort(bad)).toBeNull();
});

test("ports 1..65535 are connectable; 0 and above are not", () => {
  expect([0, 1, 65535, 65536].map(isConnectablePort)).toEqual([false, true, true, false]);
});

test("joinHostPort writes what splitHostPort reads back, IPv6 in brackets", () => {
  expect(joinHostPort("127.0.0.1", 9000)).toBe("127.0.0.1:9000");
  expect(joinHostPort("::1", 9000)).toBe("[::1]:9000");
  for (const [host, port] of [["monitor-2", 9200], ["::1", 1], ["fe80::1%eth0", 65535]] as const) expect(splitHostPort(joinHostPort(host, port))).toEqual({ host, port });
});
