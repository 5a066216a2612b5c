/**
 * The compose deployment stays in step with the code: the committed compose file is exactly what
 * `coffee compose` prints (golden), every service's command line and environment is accepted by
 * the binary's own parser, monitors watch every service, and the Dockerfile builds what CI builds.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALLOCATOR_ENV } from "../src/allocatorTuning.ts";
import { parseInvocation } from "../src/main.ts";
import { STAGES } from "../src/topology.ts";
import { runCoffee } from "./harness.ts";

const root = join(import.meta.dir, "..");
const composePath = join(root, "compose", "docker-compose.yml");

interface ComposeService {
  image?: string;
  ports?: string[];
  depends_on?: unknown;
  healthcheck?: { test: string[] };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  configs?: { source: string; target: string }[];
  profiles?: string[];
}
interface ComposeDoc {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  configs: Record<string, { content: string }>;
}

/** `${VAR:-default}` as compose interpolates it with VAR unset. */
const interpolate = (v: string): string => v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");

const committed = (): ComposeDoc => Bun.YAML.parse(readFileSync(composePath, "utf8")) as ComposeDoc;
const coffeeServices = (doc: ComposeDoc): [string, ComposeService][] => Object.entries(doc.services).filter(([, s]) => s.image === "coffee:local");

describe("compose", () => {
  test("compose/docker-compose.yml is exactly what `coffee compose` prints (regenerate: coffee compose > compose/docker-compose.yml)", async () => {
    const r = await runCoffee(["compose"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(composePath, "utf8"));
  });

  test("every service's command line and environment is accepted by the binary's own parser", async () => {
    const services = coffeeServices(committed());
    expect(services.length).toBeGreaterThan(10);
    for (const [name, s] of services) {
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
      const { command, values } = await parseInvocation(s.command ?? [], env);
      expect(command.name).toBe(s.command?.[1] ?? "");
      if (name !== "client") expect(values.name).toBe(name);
    }
  });

  test("every coffee service's healthcheck is `coffee ping --ready` to its own health port, a command the binary accepts", async () => {
    const services = coffeeServices(committed()).filter(([n]) => n !== "client");
    for (const [name, s] of services) {
      const [cmd, ...argv] = s.healthcheck?.test ?? [];
      expect({ name, cmd, head: argv.slice(0, 4) }).toEqual({ name, cmd: "CMD", head: ["coffee", "ping", "--ready", "--to"] });
      expect(argv[4]).toBe(`127.0.0.1:${s.environment!.HEALTH_PORT}`);
      const { command, values } = await parseInvocation(argv.slice(1), {});
      expect(command.name).toBe("ping");
      expect(values.ready).toBe(true);
    }
  });

  test("monitors watch every coffee service by name, and peer with every monitor", () => {
    const doc = committed();
    const watched = JSON.parse(doc.configs.cluster!.content) as { name: string; host: string; healthPort: number }[];
    const services = coffeeServices(doc).filter(([n]) => n !== "client");
    expect(watched.map((w) => w.name).sort()).toEqual(services.map(([n]) => n).sort());
    for (const w of watched) {
      expect(w.host).toBe(w.name);
      expect(String(w.healthPort)).toBe(doc.services[w.name]!.environment!.HEALTH_PORT!);
    }
    const monitors = services.filter(([, s]) => s.command?.[1] === "monitor");
    expect(monitors.length).toBe(3);
    for (const [, m] of monitors) {
      const peers = m.environment!.COFFEE_MONITOR_PEERS!.split(",").map((p) => p.split("=")[1]!.split(":")[0]!);
      expect(peers.sort()).toEqual(monitors.map(([n]) => n).sort());
      expect(m.volumes).toContain("/var/run/docker.sock:/var/run/docker.sock");
      expect(m.configs?.[0]?.target).toBe(m.environment!.COFFEE_CLUSTER_FILE!);
    }
  });

  test("every coffee service serves metrics and is a target of the optional Prometheus (profile metrics)", () => {
    const doc = committed();
    const services = coffeeServices(doc).filter(([n]) => n !== "client");
    const prometheus = doc.services.prometheus!;
    expect(prometheus.profiles).toEqual(["metrics"]);
    const mounted = prometheus.configs?.find((c) => c.source === "prometheus");
    expect(mounted?.target).toBe("/etc/prometheus/prometheus.yml");
    const config = Bun.YAML.parse(doc.configs.prometheus!.content) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    const targets = config.scrape_configs.flatMap((j) => j.static_configs.flatMap((s) => s.targets));
    const port = (s: ComposeService): string => s.environment?.COFFEE_METRICS_PORT ?? "(none)";
    expect(targets.sort()).toEqual(services.map(([n, s]) => `${n}:${port(s)}`).sort());
    for (const [, s] of services) expect(Number(port(s))).toBeGreaterThan(0);
    // Monitors learn every metrics port too (for status pages), next to the health port.
    const watched = JSON.parse(doc.configs.cluster!.content) as { name: string; metricsPort: number }[];
    for (const w of watched) expect(String(w.metricsPort)).toBe(port(doc.services[w.name]!));
  });

  test("stateful services (gateway, aggregators) each get their own named WAL volume", () => {
    const doc = committed();
    for (const [name, s] of coffeeServices(doc)) {
      const role = s.command?.[1];
      if (role !== "gateway" && role !== "aggregator") continue;
      const volume = `${name}-state`;
      expect(doc.volumes[volume]).toBeDefined();
      expect(s.volumes).toContain(`${volume}:${s.environment!.COFFEE_STATE_DIR}`);
    }
  });

  test("options change the rendering: replicas, quorum queues", async () => {
    const r = await runCoffee(["compose", "--replicas", "filter-year=3,group-q2=2", "--deploy", "split", "--queue-type", "quorum", "--monitors", "1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("coffee compose --replicas filter-year=3,group-q2=2 --deploy split --monitors 1 --queue-type quorum");
    const doc = Bun.YAML.parse(r.stdout) as ComposeDoc;
    const names = Object.keys(doc.services);
    expect(names.filter((n) => n.startsWith("filter-year-"))).toEqual(["filter-year-1", "filter-year-2", "filter-year-3"]);
    expect(names.filter((n) => n.startsWith("group-q2-"))).toEqual(["group-q2-1", "group-q2-2"]);
    expect(names.filter((n) => n.startsWith("monitor-"))).toEqual(["monitor-1"]);
    for (const [, s] of coffeeServices(doc)) if (s.environment?.COFFEE_QUEUE_TYPE) expect(s.environment.COFFEE_QUEUE_TYPE).toBe("quorum");
    for (const stage of STAGES) expect(names.some((n) => n.startsWith(`${stage.name}-`))).toBe(true);
    // Fused (the default): one service per chain replica, a chain as replicated as its most replicated stage.
    const fused = Bun.YAML.parse((await runCoffee(["compose", "--replicas", "filter-year=3,group-q2=2"])).stdout) as ComposeDoc;
    const workers = Object.keys(fused.services).filter((n) => n.includes("-chain-"));
    expect(workers).toEqual(["transactions-chain-1", "transactions-chain-2", "transactions-chain-3", "items-chain-1", "items-chain-2"]);
    const bad = await runCoffee(["compose", "--replicas", "nope=2"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown stage");
  });

  test("--broker external leaves RabbitMQ out: every service waits on nothing and needs AMQP_URL from the environment", async () => {
    const r = await runCoffee(["compose", "--broker", "external", "--queue-type", "quorum"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("coffee compose --queue-type quorum --broker external");
    const doc = Bun.YAML.parse(r.stdout) as ComposeDoc & { services: Record<string, { depends_on?: Record<string, unknown> }> };
    expect(doc.services.rabbitmq).toBeUndefined();
    expect(doc.volumes["rabbitmq-data"]).toBeUndefined();
    for (const [name, s] of coffeeServices(doc)) {
      expect(doc.services[name]!.depends_on?.rabbitmq).toBeUndefined();
      // The client talks to the gateway only.
      if (name !== "client") expect(s.environment?.AMQP_URL).toMatch(/^\$\{AMQP_URL:\?/);
    }
    // The bundled default keeps its broker and the wait for it.
    const bundled = committed() as ComposeDoc & { services: Record<string, { depends_on?: Record<string, unknown> }> };
    expect(bundled.services.rabbitmq).toBeDefined();
    expect(bundled.services.gateway!.depends_on?.rabbitmq).toEqual({ condition: "service_healthy" });
  });

  test("the project is named after --namespace, so two namespaces on one host share no container or WAL volume; a name compose refuses is refused here", async () => {
    const doc = committed() as ComposeDoc & { name: string };
    expect(doc.name).toBe("coffee");
    const other = Bun.YAML.parse((await runCoffee(["compose", "--namespace", "tenant-2"])).stdout) as ComposeDoc & { name: string };
    expect(other.name).toBe("tenant-2");
    // Monitors find containers by the compose project label: the same name unless compose runs with another.
    for (const [, s] of coffeeServices(other)) if (s.command?.[1] === "monitor") expect(s.environment!.COMPOSE_PROJECT_NAME).toBe("${COMPOSE_PROJECT_NAME:-tenant-2}");
    for (const bad of ["Tenant", "a.b", "-x"]) {
      const r = await runCoffee(["compose", "--namespace", bad]);
      expect({ bad, code: r.code, stdout: r.stdout }).toEqual({ bad, code: 2, stdout: "" });
      expect(r.stderr).toContain("CONFIG_INVALID");
      expect(r.stderr).toContain("compose project");
    }
  });

  test("the gateway is published on loopback unless COFFEE_GATEWAY_BIND says otherwise; the client starts no gateway and takes its address from COFFEE_GATEWAY", () => {
    const doc = committed();
    expect(doc.services.gateway!.ports).toEqual(["${COFFEE_GATEWAY_BIND:-127.0.0.1}:9000:9000"]);
    const client = doc.services.client!;
    // `docker compose run client` starts what the client depends on: on another host, a second gateway.
    expect(client.depends_on).toBeUndefined();
    expect(client.command).not.toContain("--gateway");
    expect(client.environment!.COFFEE_GATEWAY).toBe("${COFFEE_GATEWAY:-gateway:9000}");
    // One token variable for both ends, empty (none) unless set where compose runs.
    expect(client.environment!.COFFEE_TOKEN).toBe("${COFFEE_TOKEN:-}");
    expect(doc.services.gateway!.environment!.COFFEE_TOKEN).toBe("${COFFEE_TOKEN:-}");
  });

  test("--services renders one host's file: only those processes and its own monitors, which watch exactly them; with a bundled broker or an unknown name it is refused", async () => {
    const hosts = [["gateway", "agg-q1", "agg-q2"], ["transactions-chain-1", "items-chain-1", "agg-q3", "agg-q4"]];
    const all = new Set<string>();
    for (const names of hosts) {
      const r = await runCoffee(["compose", "--broker", "external", "--queue-type", "quorum", "--monitors", "2", "--services", names.join(",")]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`--services ${names.join(",")}`);
      const doc = Bun.YAML.parse(r.stdout) as ComposeDoc;
      const services = coffeeServices(doc).filter(([n]) => n !== "client").map(([n]) => n);
      expect(services.sort()).toEqual([...names, "monitor-1", "monitor-2"].sort());
      const watched = JSON.parse(doc.configs.cluster!.content) as { name: string }[];
      expect(watched.map((w) => w.name).sort()).toEqual(services);
      for (const n of names) all.add(n);
      expect(Object.keys(doc.volumes).sort()).toEqual(names.filter((n) => n === "gateway" || n.startsWith("agg-")).map((n) => `${n}-state`).sort());
    }
    // The two hosts' files together run the whole plan.
    const whole = coffeeServices(committed()).map(([n]) => n).filter((n) => n !== "client" && !n.startsWith("monitor-"));
    expect([...all].sort()).toEqual(whole.sort());
    const unknown = await runCoffee(["compose", "--broker", "external", "--services", "gateway,nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--services: "nope" is not a process of this plan');
    const monitor = await runCoffee(["compose", "--broker", "external", "--services", "monitor-1"]);
    expect(monitor.code).toBe(2);
    const bundled = await runCoffee(["compose", "--services", "gateway"]);
    expect(bundled.code).toBe(2);
    expect(bundled.stderr).toContain("--broker external");
  });

  test("the Dockerfile compiles with package.json's build script and ships only the binary", () => {
    const dockerfile = readFileSync(join(root, "compose", "Dockerfile"), "utf8");
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.scripts.build).toContain("--outfile dist/coffee");
    expect(dockerfile).toContain("RUN bun run build");
    expect(dockerfile).toContain(`ARG BUN_VERSION=${pkg.devDependencies.bun!.replace(/^\^/, "")}`);
    // Bun comes from npm, as everywhere else (contract §1), not from a Bun image or an installer script.
    expect(dockerfile).toContain('RUN npm install --global "bun@${BUN_VERSION}"');
    expect(dockerfile).not.toMatch(/oven\/bun|curl|bun\.sh\/install/);
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBe(2);
    const final = stages[1]!;
    expect(final.match(/^COPY .*/gm)).toEqual(["COPY --from=build /src/dist/coffee /usr/local/bin/coffee"]);
    // The image sets the allocator settings itself, so containers start once instead of re-executing.
    for (const [name, value] of Object.entries(ALLOCATOR_ENV)) expect(final).toContain(`ENV ${name}=${value}`);
    // Everything the build stage copies passes the build context's ignore file.
    const ignore = readFileSync(join(root, "compose", "Dockerfile.dockerignore"), "utf8");
    for (const m of stages[0]!.matchAll(/^COPY (.+) \S+$/gm)) {
      for (const path of m[1]!.split(/\s+/)) expect(ignore).toContain(`!${path.replace(/^\.\//, "")}`);
    }
  });

  test("the Dockerfile's build stage, replayed outside Docker, compiles a binary that runs", async () => {
    // No Docker engine here: its COPY and RUN steps run in a scratch /src, Bun already installed.
    const build = readFileSync(join(root, "compose", "Dockerfile"), "utf8").split(/^FROM /m)[1]!;
    const src = mkdtempSync(join(tmpdir(), "coffee-docker-build-"));
    try {
      for (const [, step, args] of build.matchAll(/^(COPY|RUN) (.+)$/gm)) {
        if (step === "COPY") {
          const paths = args!.split(/\s+/);
          const dest = paths.pop()!;
          for (const path of paths) cpSync(join(root, path), dest === "./" ? join(src, path) : join(src, dest), { recursive: true });
        } else if (!args!.startsWith("npm install --global")) {
          const p = Bun.spawn(["sh", "-c", args!], { cwd: src, stdout: "pipe", stderr: "pipe" });
          const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
          if (code !== 0) throw new Error(`RUN ${args} exited ${code}:\n${out}${err}`);
        }
      }
      const r = Bun.spawnSync([join(src, "dist", "coffee"), "--help"]);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.toString()).toContain("--role");
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  }, 180_000);
});
