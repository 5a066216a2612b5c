import { expect, test } from "bun:test";
import { hostname } from "node:os";
import { hostAllowed } from "./hostCheck.ts";

test("IP addresses, localhost and this machine's name pass; any other name only when listed", () => {
  for (const h of ["127.0.0.1:9090", "10.0.0.7", "[::1]:9090", "[fe80::1]", "localhost:9090", "LOCALHOST", "app.localhost:80", `${hostname()}:9090`]) {
    expect(hostAllowed(h, [])).toBe(true);
  }
  for (const h of ["evil.example:9090", "evil.example", "127.0.0.1.evil.example", "localhost.evil.example:9090", "[::1", ":9090", ""]) {
    expect(hostAllowed(h, [])).toBe(false);
  }
  expect(hostAllowed("coffee.internal:443", ["Coffee.Internal"])).toBe(true);
  expect(hostAllowed("coffee.internal", ["coffee.internal:443"])).toBe(true);
  expect(hostAllowed(null, [])).toBe(true);
});
