import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { pingHealth, startHealthServer, type HealthServer } from "./health.ts";

const open: HealthServer[] = [];
async function start(status = () => ({ role: "worker", name: "w1", sessions: 2 })): Promise<HealthServer> {
  const server = await startHealthServer({ port: 0, host: "127.0.0.1", status });
  open.push(server);
  return server;
}
/** Linux's ip_nonlocal_bind lets a socket bind any address, so "not an address of this machine" cannot happen there. */
const anyAddressBinds = ((): boolean => { try { return readFileSync("/proc/sys/net/ipv4/ip_nonlocal_bind", "utf8").trim() === "1"; } catch { return false; } })();

afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

describe("health", () => {
  test("a health port in use is CONFIG_INVALID naming the option", async () => {
    const taken = await start();
    const inUse = await startHealthServer({ port: taken.port, host: "127.0.0.1", status: () => ({ role: "worker", name: "w2" }) }).catch((e: unknown) => e);
    expect(inUse).toMatchObject({ code: "CONFIG_INVALID", message: `UDP health port ${taken.port} on 127.0.0.1 is in use (--health-port / HEALTH_PORT; 0 picks a free one)` });
  });

  test.skipIf(anyAddressBinds)("a host not of this machine is CONFIG_INVALID naming the option", async () => {
    // A documentation address (RFC 5737) this machine does not have (some test VMs use one).
    const mine = Object.values(networkInterfaces()).flat().map((i) => i?.address);
    const elsewhere = ["203.0.113.77", "198.51.100.77"].find((a) => !mine.includes(a))!;
    const foreign = await startHealthServer({ port: 0, host: elsewhere, status: () => ({ role: "worker", name: "w3" }) }).catch((e: unknown) => e);
    expect(foreign).toMatchObject({ code: "CONFIG_INVALID", message: `health address ${elsewhere} is not an address of this machine (--health-host / HEALTH_HOST)` });
  });

  test("ping a live server gets OK with role, name and status", async () => {
    const server = await start();
    const reply = await pingHealth("127.0.0.1", server.port, 1000);
    expect(reply).not.toBeNull();
    expect(reply!.ok).toBe(true);
    expect(reply!.status).toMatchObject({ role: "worker", name: "w1", sessions: 2, pid: process.pid });
    expect(typeof reply!.status.uptimeMs).toBe("number");
    expect(reply!.rttMs).toBeGreaterThanOrEqual(0);
    // hostnames are resolved before sending (Bun's send accepts numeric addresses only)
    expect((await pingHealth("localhost", server.port, 1000))?.status.name).toBe("w1");
  });

  test("survives 1000 garbage datagrams and still answers", async () => {
    const server = await start();
    const sender = await Bun.udpSocket({ port: 0, socket: { error: () => {} } });
    const garbage: Uint8Array[] = [new Uint8Array(0), new Uint8Array(65507).fill(0x50), new TextEncoder().encode("PINGPONG"), new TextEncoder().encode("ping")];
    while (garbage.length < 1000) garbage.push(crypto.getRandomValues(new Uint8Array(1 + Math.floor(Math.random() * 1400))));
    // paced: an unpaced burst overflows the kernel receive buffer and most datagrams are dropped
    for (let i = 0; i < garbage.length; i++) {
      sender.send(garbage[i]!, server.port, "127.0.0.1");
      if (i % 25 === 24) await Bun.sleep(1);
    }
    sender.close();
    for (let i = 0; server.ignored < 1000 && i < 100; i++) await Bun.sleep(10);
    expect(server.ignored).toBe(1000);
    expect((await pingHealth("127.0.0.1", server.port, 1000))?.status.role).toBe("worker");
  });

  test("trimmed PING is answered; a client gone before the reply does not crash the server", async () => {
    let reported: (m: string) => void = () => {};
    const firstError = new Promise<string>((r) => (reported = r));
    const server = await startHealthServer({ port: 0, host: "127.0.0.1", status: () => ({ role: "worker", name: "w1" }), onError: (m) => reported(m) });
    open.push(server);
    const sender = await Bun.udpSocket({ port: 0 });
    sender.send(" PING\n", server.port, "127.0.0.1");
    sender.close(); // the reply now hits a closed port: ICMP unreachable on the server socket
    // Wait for the event itself: the server reports the refused reply (and keeps running).
    expect(await firstError).toContain("ECONNREFUSED");
    expect(await pingHealth("127.0.0.1", server.port, 1000)).not.toBeNull();
    expect(server.ignored).toBe(0);
  });

  test("ping to a port with no server resolves null within the timeout", async () => {
    const probe = await start();
    const port = probe.port;
    probe.close();
    const t0 = performance.now();
    expect(await pingHealth("127.0.0.1", port, 300)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await pingHealth("no-such-host.invalid", port, 300)).toBeNull();
  });

  test("a port that is bound but silent times out to null", async () => {
    const silent = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    const t0 = performance.now();
    expect(await pingHealth("127.0.0.1", silent.port, 200)).toBeNull();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    silent.close();
  });

  test("port 0 gives a real port and close() frees it", async () => {
    const server = await start();
    expect(server.port).toBeGreaterThan(0);
    expect(server.port).toBeLessThan(65536);
    await expect(startHealthServer({ port: server.port, host: "127.0.0.1", status: () => ({ role: "x", name: "x" }) })).rejects.toThrow();
    server.close();
    server.close(); // idempotent
    const again = await startHealthServer({ port: server.port, host: "127.0.0.1", status: () => ({ role: "gateway", name: "g" }) });
    open.push(again);
    expect(again.port).toBe(server.port);
    expect((await pingHealth("127.0.0.1", again.port, 1000))?.status.role).toBe("gateway");
  });
});
