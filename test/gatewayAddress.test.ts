/** `--gateway host:port` as the client reads it. */
import { expect, test } from "bun:test";
import { parseHostPort } from "../roles/client.ts";
import { ConfigError } from "../src/errors.ts";

test("--gateway takes names, IPv4 and bracketed IPv6 (zones too); a scheme, a path, port 0 or bare IPv6 are refused at once", () => {
  expect(parseHostPort("127.0.0.1:9000")).toEqual({ host: "127.0.0.1", port: 9000 });
  expect(parseHostPort("gateway:9000")).toEqual({ host: "gateway", port: 9000 });
  expect(parseHostPort("coffee_gw-2.example.com:1")).toEqual({ host: "coffee_gw-2.example.com", port: 1 });
  expect(parseHostPort("[::1]:65535")).toEqual({ host: "::1", port: 65535 });
  expect(parseHostPort("[fe80::1%eth0]:9000")).toEqual({ host: "fe80::1%eth0", port: 9000 });
  for (const bad of ["http://127.0.0.1:9000", "127.0.0.1:9000/", "127.0.0.1:0", "127.0.0.1:65536", "::1:9000", "gateway", ":9000", "a b:9000"]) {
    expect(() => parseHostPort(bad)).toThrow(ConfigError);
  }
});
