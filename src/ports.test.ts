import { expect, test } from "bun:test";
import { freeTcpPort, freeUdpPort } from "./ports.ts";

// 400 random draws from the ~28 k ephemeral ports repeat one with probability ~94 %, so
// without the ledger these fail most runs; with it they cannot repeat.
test("freeTcpPort never hands out a port twice in one process", () => {
  const ports = Array.from({ length: 400 }, () => freeTcpPort());
  expect(new Set(ports).size).toBe(ports.length);
});

test("freeUdpPort never hands out a port twice in one process", async () => {
  const ports: number[] = [];
  for (let i = 0; i < 400; i++) ports.push(await freeUdpPort());
  expect(new Set(ports).size).toBe(ports.length);
});
