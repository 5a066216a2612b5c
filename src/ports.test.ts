import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { freeTcpPort, freeUdpPort } from "./ports.ts";

// 400 random draws from the ~22 k ports below the ephemeral range repeat one with probability
// ~97 %, so without the ledger these fail most runs; with it they cannot repeat.
test("freeTcpPort never hands out a port twice in one process", () => {
  const ports = Array.from({ length: 400 }, () => freeTcpPort());
  expect(new Set(ports).size).toBe(ports.length);
});

test("freeUdpPort never hands out a port twice in one process", async () => {
  const ports: number[] = [];
  for (let i = 0; i < 400; i++) ports.push(await freeUdpPort());
  expect(new Set(ports).size).toBe(ports.length);
});

/** The low end of the kernel's ephemeral range, or null off Linux. */
function ephemeralLow(): number | null {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return null;
  }
}

test.skipIf(ephemeralLow() === null)("ports are drawn below the ephemeral range, where no outgoing connection can take one before its listener binds", async () => {
  const low = ephemeralLow()!;
  const tcp = Array.from({ length: 50 }, () => freeTcpPort());
  const udp: number[] = [];
  for (let i = 0; i < 50; i++) udp.push(await freeUdpPort());
  for (const p of [...tcp, ...udp]) {
    expect(p).toBeGreaterThanOrEqual(10_000);
    expect(p).toBeLessThan(low);
  }
  // Free on every address, so a listener on 0.0.0.0 (the gateway's default) can bind it.
  const server = Bun.listen({ hostname: "0.0.0.0", port: tcp[0]!, socket: { data() {} } });
  server.stop(true);
});
