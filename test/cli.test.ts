/** The executable's command line: help for every role and tool, clear errors for bad input. */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { freeTcpPort, freeUdpPort, tcpAccepts } from "../src/ports.ts";
import { connectBroker } from "../src/brokerAddress.ts";
import { deleteNamespace, namespaceConsumers } from "../src/namespaceAdmin.ts";
import { brokerProbe } from "../src/privateBroker.ts";
import { AmqpTransport } from "../src/amqpTransport.ts";
import { allQueues } from "../src/topology.ts";
import { coffeeArgv, generate, runCoffee, startCluster, tempDir, uniqueNamespace, watchedText } from "./harness.ts";

const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
/** Tests that need a broker that answers (CI starts one) are skipped, not hung, without one. */
const brokerUp = (await brokerProbe({ url: AMQP_URL })) === null;
/** This machine's addresses, and one other than loopback to knock on from "outside" (if it has one). */
const myAddresses = Object.values(networkInterfaces()).flat().filter((i) => i !== undefined);
const external = myAddresses.find((i) => i.family === "IPv4" && !i.internal)?.address;
/** Linux's ip_nonlocal_bind lets a socket bind any address, so "not an address this machine can listen on" cannot happen there. */
const anyAddressBinds = ((): boolean => { try { return readFileSync("/proc/sys/net/ipv4/ip_nonlocal_bind", "utf8").trim() === "1"; } catch { return false; } })();

setDefaultTimeout(30_000);

describe("command line", () => {
  test("--help lists every role and tool", async () => {
    const r = await runCoffee(["--help"]);
    expect(r.code).toBe(0);
    for (const name of ["gateway", "worker", "aggregator", "monitor", "client", "up", "gen", "reference"]) expect(r.stdout).toContain(`  ${name} `);
  });

  test("a COFFEE_ variable no option reads is warned about once, by the process it was set for, and the command still runs", async () => {
    const dir = tempDir("unknown-env");
    const args = ["gen", "--out", join(dir, "d"), "--months", "2024-01..2024-01", "--transactions-per-month", "10", "--users", "5", "--quiet"];
    const r = await runCoffee(args, { COFFEE_MAX_FIELD_CHARS: "100" });
    expect(r.code).toBe(0);
    // (toContain: the environment this test runs in may hold variables of its own.)
    expect(r.stderr).toContain("coffee: warning: COFFEE_MAX_FIELD_CHARS is set, but no coffee option reads it (misspelt, or renamed? coffee --help lists every variable); ignored\n");
    // A child of coffee up inherits the environment its parent already checked.
    // (Its parent watch reads a stdin this test does not hold, and may say so.)
    const child = await runCoffee(args, { COFFEE_MAX_FIELD_CHARS: "100", COFFEE_PARENT_PID: String(process.pid) });
    expect(child.stderr).not.toContain("COFFEE_MAX_FIELD_CHARS");
    rmSync(dir, { recursive: true, force: true });
  });

  test("--version prints package.json's version and the Bun it runs on", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dir, "..", "package.json"), "utf8")) as { version: string };
    const r = await runCoffee(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`coffee ${pkg.version} (Bun ${Bun.version})\n`);
    // Also in an image whose ROLE is set.
    expect((await runCoffee(["--version"], { ROLE: "worker" })).stdout).toBe(r.stdout);
  });

  test("coffee --help lists every option line of every role's and tool's own --help", async () => {
    const top = (await runCoffee(["--help"])).stdout;
    for (const command of [["--role", "gateway"], ["--role", "worker"], ["--role", "aggregator"], ["--role", "monitor"], ["--role", "client"], ["up"], ["gen"], ["reference"], ["demo"], ["chaos"], ["status"], ["compose"]]) {
      const own = (await runCoffee([...command, "--help"])).stdout;
      const rows = own.split("\n").filter((line) => /^ {2}--(?!help\b)/.test(line));
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(top).toContain(row);
    }
    expect(top).toMatch(/--gateway VALUE .*default "127\.0\.0\.1:9000"/);
  });

  test("every role's --help shows its options with defaults; ROLE env is equivalent to --role", async () => {
    for (const role of ["gateway", "worker", "aggregator", "monitor", "client"]) {
      const viaFlag = await runCoffee(["--role", role, "--help"]);
      const viaEnv = await runCoffee(["--help"], { ROLE: role });
      expect(viaFlag.code).toBe(0);
      expect(viaFlag.stdout).toContain(`coffee --role ${role}`);
      expect(viaEnv.stdout).toBe(viaFlag.stdout);
    }
    const gw = await runCoffee(["--role", "gateway", "--help"]);
    expect(gw.stdout).toMatch(/--port N .*default 9000/);
    expect(gw.stdout).toMatch(/--max-sessions N .*default 5/);
    const up = await runCoffee(["up", "--help"]);
    expect(up.stdout).toMatch(/--state-dir VALUE .*default "\.\/state"/);
    expect(up.stdout).toMatch(/--namespace VALUE .*default "coffee"/);
    // Contract §1: every role takes --namespace.
    for (const role of ["gateway", "worker", "aggregator", "monitor", "client"]) {
      expect((await runCoffee(["--role", role, "--help"])).stdout).toMatch(/--namespace VALUE .*env COFFEE_NAMESPACE; default "coffee"/);
    }
  });

  test("bad options are CONFIG_INVALID naming the option, exit 2", async () => {
    const cases: [string[], string][] = [
      [["--role", "gateway", "--port", "99999"], "--port must be <= 65535"],
      [["--role", "gateway", "--port", "abc"], "--port must be an integer"],
      [["--role", "worker"], "give exactly one of --stage (env COFFEE_STAGE) and --chain (env COFFEE_CHAIN)"],
      [["--role", "nope"], 'unknown role "nope"'],
      [["--role"], "--role needs a value"],
      [["--role", "gateway", "--bogus", "1"], "unknown option --bogus"],
      [["up", "--replicas", "filter-year=0"], "--replicas: replicas of filter-year must be 1..64"],
      [["up", "--replicas", "filter-year=3,filter-year=2"], "--replicas: filter-year is given twice"],
      [["up", "--namespace", ""], '--namespace is empty; leave it out for the default ("coffee")'],
      [["up", "--state-dir="], '--state-dir is empty; leave it out for the default ("./state")'],
      [["up", "--replicas", "nosuch=2"], 'unknown stage "nosuch"'],
      [["up", "--dashboard-port", "8080", "--monitors", "0"], "--dashboard-port needs a monitor to serve it"],
      [["--role", "monitor", "--heartbeat-ms", "10", "--leader-timeout-ms", "15"], "--leader-timeout-ms must be >= 50"],
      [["--role", "client", "--data", ".", "--gateway", "http://127.0.0.1:9000"], "--gateway must be host:port with a port in 1..65535"],
      [["--role", "client", "--data", ".", "--gateway", "127.0.0.1:0"], "--gateway must be host:port with a port in 1..65535"],
      [["client", "--data", "."], '"client" is a role: coffee --role client'],
      [["gne"], 'unknown tool "gne"'],
      [["--role", "monitor", "--heartbeat-ms", "30", "--leader-timeout-ms", "50"], "--leader-timeout-ms (50) must be at least twice --heartbeat-ms (30)"],
      [["--role", "monitor", "--id", "1", "--peers", "1=127.0.0.1:7101,1=127.0.0.1:7102"], "--peers: id 1 is listed twice"],
      [["--role", "monitor", "--id", "1", "--peers", "1=127.0.0.1:7101,2=127.0.0.1:7102", "--election-port", "7300"], "--election-port 7300 differs from this monitor's port in --peers"],
    ];
    for (const [args, message] of cases) {
      const r = await runCoffee(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("CONFIG_INVALID");
      expect(r.stderr).toContain(message);
    }
    // A rule between two options names each as it was given: the variable, when one was set.
    const fromEnv = await runCoffee(["--role", "monitor", "--revive-max-ms", "10"], { COFFEE_HEARTBEAT_MS: "10000", COFFEE_REVIVE_INITIAL_MS: "10000" });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain("--leader-timeout-ms (1000) must be at least twice COFFEE_HEARTBEAT_MS (10000), the monitors' election heartbeat");
    const backoff = await runCoffee(["--role", "monitor", "--revive-max-ms", "10"], { COFFEE_REVIVE_INITIAL_MS: "10000" });
    expect(backoff.stderr).toContain("CONFIG_INVALID: --revive-max-ms (10) must be at least COFFEE_REVIVE_INITIAL_MS (10000)");
  });

  test("coffee up --dashboard-port on a taken port is CONFIG_INVALID before anything starts", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const dir = tempDir("cli-dash");
    try {
      const r = await runCoffee(["up", "--dashboard-port", String(busy.port), "--state-dir", join(dir, "state")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`CONFIG_INVALID: --dashboard-port ${busy.port} is in use`);
    } finally {
      busy.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("coffee up --dashboard-port equal to --port is CONFIG_INVALID before anything starts", async () => {
    const dir = tempDir("cli-dash-same");
    const port = freeTcpPort();
    try {
      const r = await runCoffee(["up", "--port", String(port), "--dashboard-port", String(port), "--state-dir", join(dir, "state")]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`coffee: CONFIG_INVALID: --dashboard-port ${port} is the gateway's --port; give each its own`);
      expect(existsSync(join(dir, "state"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** AMQP_URL made wrong in one way, and what coffee up must say of it (and never start instead). */
  const brokerMistakes: [string, (url: URL) => void, RegExp][] = [
    ["refuses its credentials", (url) => { url.password = "certainly-wrong"; }, /refused the connection: .*ACCESS[-_]REFUSED/],
    ["closes the connection as it opens (no such vhost)", (url) => { url.pathname = "/coffee-no-such-vhost"; }, /answered but closed the connection as it opened: the vhost in AMQP_URL does not exist/],
  ];
  for (const [what, mistake, says] of brokerMistakes) {
    test.skipIf(!brokerUp)(`coffee up against a broker that ${what} is CONFIG_INVALID with the reason, no fallback`, async () => {
      const dir = tempDir("cli-broker");
      try {
        const url = new URL(AMQP_URL);
        mistake(url);
        // Killed after 30 s: a regression would fall back (a private node, or memory) and never exit.
        const p = Bun.spawn(coffeeArgv("up", "--monitors", "0", "--port", String(freeTcpPort()), "--state-dir", dir), {
          env: { ...process.env, AMQP_URL: url.toString() } as Record<string, string>, stdout: "pipe", stderr: "pipe", timeout: 30_000,
        });
        const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
        expect(code).toBe(2);
        // The reason alone: nothing had started, so nothing is said to be stopping.
        expect(stderr.trim().split("\n")).toHaveLength(1);
        expect(stderr).toMatch(says);
        expect(stderr).not.toContain("certainly-wrong");
        expect(stderr).not.toContain("starting a private node");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`a role waiting for a broker that does not answer stops at ${signal} (exit 0, as once running), even one started with SIGINT ignored`, async () => {
      const dir = tempDir("cli-signal");
      try {
        // As a script's background job starts it: SIGINT ignored, which the process inherits.
        const argv = coffeeArgv("--role", "gateway", "--port", String(freeTcpPort()), "--state-dir", dir, "--namespace", uniqueNamespace("sig"));
        const p = Bun.spawn(["sh", "-c", 'trap "" INT; exec "$@"', "sh", ...argv], {
          env: { ...process.env, AMQP_URL: `amqp://guest:guest@127.0.0.1:${freeTcpPort()}` } as Record<string, string>, stdout: "ignore", stderr: "pipe", timeout: 20_000,
        });
        const stderr = watchedText(p.stderr, "the gateway");
        await stderr.line(/broker reconnect attempt/);
        p.kill(signal);
        expect(await p.exited).toBe(0);
        expect(await stderr.ended).toContain(`${signal} while starting: stopped`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test.skipIf(!brokerUp)("a role whose broker refuses its credentials exits CONFIG_INVALID instead of retrying forever", async () => {
    const url = new URL(AMQP_URL);
    url.password = "certainly-wrong";
    // Killed after 30 s: a regression retries forever, never exiting.
    const p = Bun.spawn(coffeeArgv("--role", "worker", "--chain", "items", "--health-port", "0", "--namespace", "cli-creds"), {
      env: { ...process.env, AMQP_URL: url.toString() } as Record<string, string>, stdout: "pipe", stderr: "pipe", timeout: 30_000,
    });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/CONFIG_INVALID: the broker at amqp:\/\/guest:\*\*\*@.* refused the connection: .*ACCESS[-_]REFUSED/);
    expect(stderr).not.toContain("certainly-wrong");
    expect(stderr).not.toContain("reconnect attempt");
  });

  test.skipIf(!brokerUp)("a child that refuses its configuration (exit 2) stops coffee up at once, exit 2, with the child's own reason", async () => {
    const dir = tempDir("cli-refusal");
    const ns = uniqueNamespace("refusal");
    try {
      // A variable only the monitors read, out of range: they exit CONFIG_INVALID.
      const bad = await runCoffee(["up", "--transport", "amqp", "--state-dir", join(dir, "a"), "--port", String(freeTcpPort()), "--namespace", ns, "--monitors", "1", "--delete-on-exit"], { COFFEE_CHECK_MISSES: "0" });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/\ncoffee: CONFIG_INVALID: monitor-1 cannot start: COFFEE_CHECK_MISSES must be >= 1, got 0 \(its log: .*\.log\)\n$/);
      // The gateway's, the workers' and the aggregators' own are refused by coffee up itself,
      // before any child starts, and so is a variable that would make every worker refuse.
      for (const [env, said] of [
        [{ COFFEE_MAX_HANDSHAKES: "0" }, "COFFEE_MAX_HANDSHAKES must be >= 1, got 0"],
        [{ COFFEE_CHUNK_BYTES: "100" }, "COFFEE_CHUNK_BYTES must be >= 1024, got 100"],
        [{ COFFEE_STAGE: "filter-year" }, "COFFEE_STAGE is set: coffee up chooses what each worker runs (--replicas, --deploy); unset it"],
      ] as const) {
        for (const transport of ["amqp", "memory"]) {
          const early = await runCoffee(["up", "--transport", transport, "--state-dir", join(dir, "c"), "--port", String(freeTcpPort()), "--namespace", ns, "--monitors", "1", "--delete-on-exit"], env);
          expect(early.code).toBe(2);
          expect(early.stderr).toBe(`coffee: CONFIG_INVALID: ${said}\n`);
        }
      }
      // Every role's options (a health port, say) in coffee up's environment are set for each
      // child by coffee up itself: not refused, though no role would take that value.
      // Nor is one of coffee up's own options' variables that its flag overrides; and the
      // in-process roles take the workers' variables as worker processes do.
      const ports = await startCluster({ tag: "envports", extraArgs: ["--transport", "memory", "--monitors", "1", "--max-sessions", "3"], env: { HEALTH_PORT: "abc", COFFEE_MAX_SESSIONS: "abc", COFFEE_PREFETCH: "3" } });
      expect(ports.banner).toContain("coffee cluster ready");
      expect(await ports.logged(/consuming \S+ \(prefetch 3\)/)).toContain("prefetch 3");
      await ports.stop();
      // The namespace's queues exist as classic ones: quorum children cannot declare them (README's QUEUE_MISMATCH row).
      const classic = await AmqpTransport.open({
        broker: { url: AMQP_URL }, queueType: "classic", namespace: ns, maxUnconfirmed: 8,
        reconnectInitialMs: 100, reconnectMaxMs: 200, onEvent: () => {}, onError: () => {},
      });
      await classic.declare(allQueues());
      await classic.close();
      const mismatch = await runCoffee(["up", "--transport", "amqp", "--queue-type", "quorum", "--state-dir", join(dir, "b"), "--port", String(freeTcpPort()), "--namespace", ns, "--monitors", "1"]);
      expect(mismatch.code).toBe(2);
      expect(mismatch.stderr).toMatch(/\ncoffee: QUEUE_MISMATCH: \S+ cannot start: queue \S+ exists with other settings than --queue-type quorum asks for .*\n$/);
      expect(mismatch.stderr).toContain("a child refused its configuration: stopping");
    } finally {
      await deleteNamespace({ url: AMQP_URL }, ns);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("coffee up --port on a taken port is CONFIG_INVALID at once, in either transport", async () => {
    const busy = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
    const dir = tempDir("cli-port");
    try {
      for (const transport of ["memory", "auto"]) {
        const r = await runCoffee(["up", "--transport", transport, "--port", String(busy.port), "--state-dir", join(dir, transport)]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`CONFIG_INVALID: --port ${busy.port} is in use`);
      }
    } finally {
      busy.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a second coffee up on a running cluster's --state-dir is CONFIG_INVALID at once, and the first goes on untouched", async () => {
    const first = await startCluster({ tag: "lock", extraArgs: ["--transport", "memory"] });
    try {
      const clusterFile = readFileSync(join(first.stateDir, "cluster.json"), "utf8");
      const r = await runCoffee(["up", "--transport", "memory", "--state-dir", first.stateDir, "--port", String(freeTcpPort()), "--namespace", `${first.namespace}b`]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^coffee: CONFIG_INVALID: state directory .* is in use by another process \(pid \d+\): one coffee up per state directory/)]);
      expect(readFileSync(join(first.stateDir, "cluster.json"), "utf8")).toBe(clusterFile);
      expect(first.proc.exitCode).toBeNull();
    } finally {
      await first.stop();
    }
  });

  test.skipIf(!brokerUp)("a second coffee up in a running cluster's --namespace is CONFIG_INVALID at once; once that cluster stopped, the namespace is free", async () => {
    const first = await startCluster({ tag: "ns" });
    const dir = tempDir("cli-ns");
    try {
      // --delete-on-exit too: the refused cluster must not delete what is not its own.
      const r = await runCoffee(["up", "--transport", "amqp", "--state-dir", dir, "--port", String(freeTcpPort()), "--namespace", first.namespace, "--monitors", "0", "--delete-on-exit"]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual([`coffee: CONFIG_INVALID: namespace "${first.namespace}" is in use on this broker: another coffee up holds it (its exclusive queue ${first.namespace}.up-lock); two clusters in one namespace take each other's messages. Give this cluster its own --namespace (and --port, --state-dir), or stop the other one`]);
      expect(first.proc.exitCode).toBeNull();
      expect((await namespaceConsumers({ url: AMQP_URL }, first.namespace)).map((q) => q.queue)).toContain(`${first.namespace}.results`);
      // A cluster stopped as coffee up stops it leaves no consumer behind: the next one starts.
      first.proc.kill("SIGTERM");
      await first.proc.exited;
      const second = await startCluster({ tag: "ns2", extraArgs: ["--namespace", first.namespace, "--transport", "amqp"] });
      expect(second.banner).toContain(`namespace ${first.namespace}`);
      await second.stop();
    } finally {
      await first.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(!brokerUp)("a namespace consumed by processes coffee up did not start (compose, roles by hand) is refused too", async () => {
    const namespace = uniqueNamespace("ns-consumed");
    const dir = tempDir("cli-ns-consumed");
    const { conn } = await connectBroker({ url: AMQP_URL });
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(`${namespace}.results`, { durable: false, autoDelete: true });
      await ch.consume(`${namespace}.results`, () => {});
      const r = await runCoffee(["up", "--transport", "amqp", "--state-dir", dir, "--port", String(freeTcpPort()), "--namespace", namespace, "--monitors", "0", "--delete-on-exit"]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^coffee: CONFIG_INVALID: namespace "${namespace}" is in use on this broker: 1 consumer\\(s\\) on its queues \\(${namespace}\\.results\\)`))]);
      // Refused before it declared anything, and it deleted nothing: the queue is still consumed.
      expect(await namespaceConsumers({ url: AMQP_URL }, namespace)).toEqual([{ queue: `${namespace}.results`, consumers: 1 }]);
    } finally {
      await conn.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(!brokerUp)("two coffee up started at the same moment in one --namespace: one runs, the other is CONFIG_INVALID", async () => {
    const namespace = uniqueNamespace("ns-race");
    const dirs = [tempDir("cli-race-a"), tempDir("cli-race-b")];
    const ups = dirs.map((dir) => Bun.spawn(coffeeArgv("up", "--transport", "amqp", "--state-dir", dir, "--port", String(freeTcpPort()), "--namespace", namespace, "--monitors", "0", "--delete-on-exit"), {
      env: { ...process.env, AMQP_URL } as Record<string, string>, stdout: "pipe", stderr: "pipe",
    }));
    try {
      // Each ends up ready or exited; whichever comes first for each.
      const outcomes = await Promise.all(ups.map(async (p) => {
        const reader = p.stdout.getReader();
        let out = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return { ready: false, code: await p.exited, stderr: await new Response(p.stderr).text() };
          out += new TextDecoder().decode(value);
          if (out.includes("ready")) return { ready: true, code: null, stderr: "" };
        }
      }));
      expect(outcomes.filter((o) => o.ready)).toHaveLength(1);
      const refused = outcomes.find((o) => !o.ready)!;
      expect(refused.code).toBe(2);
      expect(refused.stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^coffee: CONFIG_INVALID: namespace "${namespace}" is in use on this broker: `))]);
      // The refused one deleted nothing: the running cluster's queues are there and consumed.
      expect((await namespaceConsumers({ url: AMQP_URL }, namespace)).map((q) => q.queue)).toContain(`${namespace}.results`);
    } finally {
      for (const p of ups) p.kill("SIGTERM");
      await Promise.all(ups.map((p) => p.exited));
      await deleteNamespace({ url: AMQP_URL }, namespace).catch(() => {});
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  test.skipIf(!brokerUp)("coffee up --restart never --monitors 0 says a child that exits stays down, not that monitors will revive it", async () => {
    const cluster = await startCluster({ tag: "never", extraArgs: ["--monitors", "0", "--restart", "never"] });
    try {
      const entries = JSON.parse(readFileSync(join(cluster.stateDir, "cluster.json"), "utf8")) as { name: string; pid: number }[];
      const gateway = entries.find((e) => e.name === "gateway")!;
      process.kill(gateway.pid, "SIGKILL");
      expect(await cluster.logged(/gateway exited \(signal SIGKILL\)/)).toEndWith("gateway exited (signal SIGKILL); not restarted (--restart never, and no monitors)");
    } finally {
      await cluster.stop();
    }
  });

  test("a role given a --health-port in use exits CONFIG_INVALID naming it", async () => {
    const taken = await Bun.udpSocket({ hostname: "0.0.0.0", port: 0 });
    try {
      for (const role of [["--role", "worker", "--chain", "items"], ["--role", "client", "--data", "/nonexistent"]]) {
        const r = await runCoffee([...role, "--health-port", String(taken.port)]);
        expect(r.code).toBe(2);
        expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^coffee: CONFIG_INVALID: UDP health port ${taken.port} on [\\d.]+ is in use \\(--health-port / HEALTH_PORT`))]);
      }
    } finally {
      taken.close();
    }
  });

  test.skipIf(anyAddressBinds)("coffee up --host with an address this machine does not have is CONFIG_INVALID", async () => {
    // A documentation address (RFC 5737) this machine does not have (some test VMs use one).
    const elsewhere = ["203.0.113.77", "198.51.100.77"].find((a) => !myAddresses.some((i) => i.address === a))!;
    const dir = tempDir("cli-host-bad");
    try {
      const bad = await runCoffee(["up", "--transport", "memory", "--host", elsewhere, "--state-dir", dir, "--port", String(freeTcpPort())]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(`CONFIG_INVALID: --host ${elsewhere} is not an address this machine can listen on`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.skipIf(external === undefined)("coffee up's gateway listens on loopback only by default, everywhere with --host 0.0.0.0, and on one address with --host ADDRESS", async () => {
    const cases: [string[], string, { loopback: boolean; external: boolean }][] = [
      [[], "127.0.0.1", { loopback: true, external: false }],
      [["--host", "0.0.0.0"], "127.0.0.1", { loopback: true, external: true }],
      [["--host", external!], external!, { loopback: false, external: true }],
    ];
    for (const [args, dialled, reachable] of cases) {
      const cluster = await startCluster({ tag: "host", extraArgs: ["--transport", "memory", "--monitors", "0", ...args] });
      try {
        expect(cluster.banner).toContain(`gateway ${dialled}:${cluster.port}${args[1] === "0.0.0.0" ? " (listening on every interface)" : ","}`);
        expect(await tcpAccepts("127.0.0.1", cluster.port)).toBe(reachable.loopback);
        expect(await tcpAccepts(external!, cluster.port)).toBe(reachable.external);
        // Open to the network with no token: said in coffee up's own log.
        if (args[1] === "0.0.0.0") expect(await cluster.logged(/WARN the gateway listens on every interface and asks clients for no token/)).toContain("set COFFEE_TOKEN");
      } finally {
        await cluster.stop();
      }
    }
  });

  test("coffee up's in-process gateway (--transport memory) asks for the COFFEE_TOKEN of its environment, as a child gateway does; the client's last line counts the rejects of both", async () => {
    const cluster = await startCluster({ tag: "token", extraArgs: ["--transport", "memory", "--monitors", "0"], env: { COFFEE_TOKEN: "s3cret" } });
    const data = tempDir("cli-token");
    try {
      await generate(data, 5, ["--months", "2024-01..2024-01", "--transactions-per-month", "50", "--users", "20"]);
      const without = await runCoffee(["--role", "client", "--data", data, "--out", join(data, "out"), "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
      expect(without.code).toBe(1);
      expect(without.stderr).toContain("AUTH_FAILED");
      const given = await runCoffee(["--role", "client", "--data", data, "--out", join(data, "out"), "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"], { COFFEE_TOKEN: "s3cret" });
      expect(given.code).toBe(0);
      // Its final line adds up: one row the reader rejects (a field short), one the gateway does (an amount that is no number).
      const file = join(data, "transactions", readdirSync(join(data, "transactions"))[0]!);
      appendFileSync(file, "t-short,1,1,,1,2.0,0.0,2.0\nt-bad,1,1,,1,2.0,0.0,two,2024-01-01 10:00:00\n");
      const counted = await runCoffee(["--role", "client", "--data", data, "--out", join(data, "out"), "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"], { COFFEE_TOKEN: "s3cret" });
      expect(counted.code).toBe(0);
      const [, read, sent] = /^session \S+: (\d+) rows read, 2 rejected \(1 of them by the gateway, among the rows sent\), (\d+) rows sent, /m.exec(counted.stdout) ?? [];
      expect(Number(read) - 1).toBe(Number(sent));
    } finally {
      await cluster.stop();
      rmSync(data, { recursive: true, force: true });
    }
  });

  test.skipIf(!brokerUp)("a gateway whose --port is taken exits CONFIG_INVALID before it declares anything on the broker", async () => {
    const busy = Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } });
    const namespace = `cli-gwport-${Date.now().toString(36)}`;
    const dir = tempDir("cli-gwport");
    try {
      const r = await runCoffee(["--role", "gateway", "--port", String(busy.port), "--namespace", namespace, "--state-dir", dir]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toEqual([expect.stringContaining(`CONFIG_INVALID: --port ${busy.port}: cannot listen on 0.0.0.0:${busy.port}`)]);
      const { conn } = await connectBroker({ url: AMQP_URL });
      try {
        const ch = await conn.createChannel();
        ch.on("error", () => {});
        expect(await ch.checkQueue(`${namespace}.results`).then(() => "exists", () => "absent")).toBe("absent");
      } finally {
        await conn.close();
      }
    } finally {
      busy.stop(true);
      await deleteNamespace({ url: AMQP_URL }, namespace).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("coffee status on a cluster that is not running says so, besides listing every process DOWN", async () => {
    const dir = tempDir("cli-status-stopped");
    try {
      // What a stopped coffee up leaves: its cluster.json, naming ports nobody answers on now.
      writeFileSync(join(dir, "cluster.json"), JSON.stringify([
        { name: "gateway", role: "gateway", pid: null, alive: false, healthPort: await freeUdpPort(), restarts: 0 },
        { name: "monitor-1", role: "monitor", pid: null, alive: false, healthPort: await freeUdpPort(), restarts: 0 },
      ]));
      const r = await runCoffee(["status", "--state-dir", dir, "--timeout-ms", "100"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("DOWN");
      expect(r.stderr).toBe(`coffee status: no process answers and none of its pids runs: coffee up is not running with --state-dir ${dir} (cluster.json is from its last run)\n`);
      // A listed pid that still runs (this test's own) is a cluster that did not answer in time.
      writeFileSync(join(dir, "cluster.json"), JSON.stringify([{ name: "gateway", role: "gateway", pid: process.pid, alive: true, healthPort: await freeUdpPort(), restarts: 0 }]));
      const slow = await runCoffee(["status", "--state-dir", dir, "--timeout-ms", "100"]);
      expect(slow.code).toBe(1);
      expect(slow.stderr).toBe("coffee status: no process answered within --timeout-ms 100, though 1 of them still runs\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("coffee chaos refuses a --dir it did not make rather than empty it", async () => {
    const dir = tempDir("cli-chaos");
    try {
      writeFileSync(join(dir, "precious.txt"), "mine\n");
      const r = await runCoffee(["chaos", "--dir", dir, "--duration-s", "5"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`CONFIG_INVALID: --dir ${dir} is not empty and was not made by coffee chaos`);
      expect(readFileSync(join(dir, "precious.txt"), "utf8")).toBe("mine\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("client: bad dataset and unreachable gateway are one-line errors, exit 1", async () => {
    const dir = tempDir("cli");
    try {
      const missing = await runCoffee(["--role", "client", "--data", join(dir, "nothing"), "--out", dir]);
      expect(missing.code).toBe(1);
      expect(missing.stderr.trim().split("\n")).toHaveLength(1);
      expect(missing.stderr).toContain("DATASET_INVALID");

      for (const e of ["transactions", "transaction_items", "users", "stores", "menu_items"]) mkdirSync(join(dir, "ds", e), { recursive: true });
      writeFileSync(join(dir, "ds", "stores", "stores.csv"), "store_id,street\n1,x\n");
      const badHeader = await runCoffee(["--role", "client", "--data", join(dir, "ds"), "--out", dir]);
      expect(badHeader.code).toBe(1);
      expect(badHeader.stderr).toContain('stores/stores.csv: header has no column "store_name"');

      writeFileSync(join(dir, "ds", "stores", "stores.csv"), "store_id,store_name\n1,x\n");
      const unreachable = await runCoffee(["--role", "client", "--data", join(dir, "ds"), "--out", dir, "--gateway", "127.0.0.1:1", "--connect-retry-s", "1"]);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr.trim().split("\n")).toHaveLength(1);
      expect(unreachable.stderr).toContain("GATEWAY_UNREACHABLE");
      // It says what to check, not only the socket error.
      expect(unreachable.stderr).toContain("is coffee up, or a gateway, running there, and has it reached its broker? --gateway names its address");
      // An IPv6 address is said as --gateway takes it, in brackets.
      const v6 = await runCoffee(["--role", "client", "--data", join(dir, "ds"), "--out", dir, "--gateway", "[::1]:1", "--connect-retry-s", "1"]);
      expect(v6.stderr).toContain("cannot reach the gateway at [::1]:1: ");
      // A run that never got a session leaves no --out folders it made, however --out is spelt;
      // an empty folder that existed before stays.
      mkdirSync(join(dir, "existing"));
      const outs: [string, string][] = [["results", "results"], ["fresh/out/", "fresh"], ["existing//new/../new2/x", "existing/new2"], [join(dir, "abs", "x"), "abs"]];
      for (const [out, made] of outs) {
        const p = Bun.spawn(coffeeArgv("--role", "client", "--data", join(dir, "ds"), "--out", out, "--gateway", "127.0.0.1:1", "--connect-retry-s", "1"), { cwd: dir, stdout: "ignore", stderr: "ignore" });
        expect(await p.exited).toBe(1);
        expect(existsSync(join(dir, made))).toBe(false);
      }
      expect(existsSync(join(dir, "existing"))).toBe(true);

      // A broker's port by mistake: RabbitMQ answers a header it does not know with its own.
      const amqp = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s) => { s.write("AMQP\x00\x00\x09\x01"); s.end(); } } });
      try {
        const wrong = await runCoffee(["--role", "client", "--data", join(dir, "ds"), "--out", dir, "--gateway", `127.0.0.1:${amqp.port}`, "--connect-retry-s", "1"]);
        expect(wrong.code).toBe(1);
        expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
        expect(wrong.stderr).toContain(`GATEWAY_UNREACHABLE: no coffee gateway at 127.0.0.1:${amqp.port}: what answers there does not speak coffee's protocol`);
      } finally {
        amqp.stop(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("README's option blocks match every role's and tool's options (run bun test/update-readme.ts)", async () => {
  const { readFileSync } = await import("node:fs");
  const { withOptionBlocks } = await import("./readmeOptions.ts");
  const readme = readFileSync(join(import.meta.dir, "..", "README.md"), "utf8");
  expect(readme).toBe(await withOptionBlocks(readme));
});

describe("allocator settings (src/allocatorTuning.ts)", () => {
  /** Start a client against a TCP server of ours and read the client's environment when it connects. */
  async function clientEnvironment(extraEnv: Record<string, string>): Promise<Map<string, string>> {
    const data = tempDir("alloc");
    try {
      await generate(data, 5, ["--months", "2024-01..2024-01", "--transactions-per-month", "50", "--users", "20"]);
      let connected!: () => void;
      const connection = new Promise<void>((resolve) => { connected = resolve; });
      const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => connected(), data: () => {} } });
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MIMALLOC_"))) as Record<string, string>;
      const proc = Bun.spawn(coffeeArgv("--role", "client", "--data", data, "--out", join(data, "out"), "--gateway", `127.0.0.1:${server.port}`, "--quiet"), { env: { ...env, ...extraEnv }, stdout: "ignore", stderr: "ignore" });
      try {
        await connection;
        // Read from the pid we spawned: the settings show there only if exec replaced that process.
        const environ = readFileSync(`/proc/${proc.pid}/environ`, "utf8").split("\0").filter(Boolean);
        return new Map(environ.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
      } finally {
        proc.kill("SIGKILL");
        await proc.exited;
        server.stop(true);
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  }

  test.skipIf(process.platform !== "linux")("a coffee process runs with MIMALLOC_PURGE_DELAY=-1 unless the user set it", async () => {
    expect((await clientEnvironment({})).get("MIMALLOC_PURGE_DELAY")).toBe("-1");
    expect((await clientEnvironment({ MIMALLOC_PURGE_DELAY: "250" })).get("MIMALLOC_PURGE_DELAY")).toBe("250");
  });
});

test("output into a pipe its reader closed (coffee ... | head) is dropped, not a crash with exit 1", async () => {
  // What src/main.ts installs, in a child that keeps writing after its reader is gone.
  const script = `import { onStdoutError } from ${JSON.stringify(join(import.meta.dir, "..", "src", "main.ts"))};
process.stdout.on("error", onStdoutError);
let n = 0;
const t = setInterval(() => { process.stdout.write("line " + n++ + "\\n"); if (n === 30) { clearInterval(t); process.stderr.write("wrote all\\n"); } }, 10);`;
  const dir = tempDir("epipe");
  try {
    const file = join(dir, "writer.ts");
    writeFileSync(file, script);
    const child = Bun.spawn([process.execPath, file], { stdout: "pipe", stderr: "pipe" });
    const reader = child.stdout.getReader();
    await reader.read();
    await reader.cancel();
    const [stderr, code] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    expect(stderr).toBe("wrote all\n");
    expect(code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
