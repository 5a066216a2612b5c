/**
 * A private RabbitMQ node for `coffee up` when none answers at AMQP_URL and rabbitmq-server is
 * installed: its own name, ports and data directory under the cluster's state dir.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { connectBroker, type BrokerAddress } from "./brokerAddress.ts";
import type { Subprocess } from "bun";
import { CoffeeError } from "./errors.ts";
import { freeTcpPort } from "./ports.ts";

/** A running private broker. */
export interface PrivateBroker {
  url: string;
  /** amqps:// URL of the TLS listener, when the node was started with `tls`. */
  tlsUrl: string | null;
  nodeName: string;
  stop(): void;
  /** Run `rabbitmqctl` against this node (add users, list connections); returns its stdout. */
  ctl(args: string[]): string;
  /** Stop the node and start it again on the same port and data (durable queues survive). */
  restart(): Promise<void>;
}

/** True when `rabbitmq-server` is on the PATH. */
export function rabbitmqInstalled(): boolean {
  return Bun.which("rabbitmq-server") !== null;
}

/** True when an AMQP connection to `broker` succeeds. */
export async function brokerAnswers(broker: BrokerAddress): Promise<boolean> {
  return (await brokerProbe(broker)) === null;
}


/** Why an AMQP connection to `broker` fails (refused, TLS verification, credentials), or null if it succeeds. */
export async function brokerProbe(broker: BrokerAddress): Promise<string | null> {
  try {
    const { conn } = await connectBroker(broker, { extra: { timeout: 3000 } });
    await conn.close();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** PEM files for a TLS listener (copied into the node's directory so its user can read them). */
export interface BrokerTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

function rabbitmqUid(): { uid: number; gid: number } | null {
  const out = spawnSync("id", ["rabbitmq"], { encoding: "utf8" });
  const uid = /uid=(\d+)/.exec(out.stdout ?? "");
  const gid = /gid=(\d+)/.exec(out.stdout ?? "");
  return uid && gid ? { uid: Number(uid[1]), gid: Number(gid[1]) } : null;
}

function chownTree(dir: string, ids: { uid: number; gid: number }): void {
  spawnSync("chown", ["-R", `${ids.uid}:${ids.gid}`, dir]);
  chownSync(dir, ids.uid, ids.gid);
}

/** Start a private node under `dir`; resolves once it accepts AMQP connections. */
export async function startPrivateBroker(dir: string, log: (m: string) => void, timeoutMs = 90_000, tls?: BrokerTlsFiles): Promise<PrivateBroker> {
  mkdirSync(dir, { recursive: true });
  const port = freeTcpPort();
  const tlsPort = tls ? freeTcpPort() : null;
  const distPort = freeTcpPort();
  const nodeName = `coffee${port}@${hostname().split(".")[0]}`;
  const plugins = join(dir, "enabled_plugins");
  writeFileSync(plugins, "[].\n");
  // Our own config file: a system-wide rabbitmq.conf may pin listeners to 5672.
  const config = join(dir, "rabbitmq.conf");
  const lines = [`listeners.tcp.local = 127.0.0.1:${port}`];
  if (tls && tlsPort !== null) {
    const own = (f: string, as: string): string => { const to = join(dir, as); copyFileSync(f, to); return to; };
    lines.push(
      // Every loopback address, so a test can reach it by an IP its certificate does not name.
      `listeners.ssl.default = ${tlsPort}`,
      `ssl_options.cacertfile = ${own(tls.caFile, "tls-ca.pem")}`,
      `ssl_options.certfile = ${own(tls.certFile, "tls-cert.pem")}`,
      `ssl_options.keyfile = ${own(tls.keyFile, "tls-key.pem")}`,
      "ssl_options.verify = verify_none",
      "ssl_options.fail_if_no_peer_cert = false",
    );
  }
  writeFileSync(config, `${lines.join("\n")}\n`);
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_PID_FILE: join(dir, "rabbit.pid"),
    RABBITMQ_FEATURE_FLAGS_FILE: join(dir, "feature_flags"),
    RABBITMQ_QUORUM_DIR: join(dir, "quorum"),
    RABBITMQ_ENABLED_PLUGINS_FILE: plugins,
    RABBITMQ_CONFIG_FILE: config,
  };
  const ids = process.getuid?.() === 0 ? rabbitmqUid() : null;
  if (ids) {
    chownTree(dir, ids);
    // The node runs as the rabbitmq user, which must be able to walk down to its data.
    const parent = dirname(dir);
    chmodSync(parent, statSync(parent).mode | 0o011);
    const probe = spawnSync("su", ["rabbitmq", "-s", "/bin/sh", "-c", `test -w '${dir}'`]);
    if (probe.status !== 0) {
      throw new CoffeeError("BROKER_UNAVAILABLE", `the rabbitmq user cannot write ${dir}; choose a --state-dir every user can traverse (e.g. under /tmp or /var/lib)`);
    }
  }
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const serverOut = join(dir, "server.out");
  let proc: Subprocess | null = null;
  const stop = (): void => {
    spawnSync("rabbitmqctl", ["-n", nodeName, "stop"], { env, stdio: "ignore", timeout: 60_000 });
    proc?.kill();
    proc = null;
  };
  const start = async (): Promise<void> => {
    const logFd = openSync(serverOut, "a");
    const bootFrom = statSync(serverOut).size;
    proc = Bun.spawn(["rabbitmq-server"], { env, stdout: logFd, stderr: logFd, stdin: "ignore" });
    const deadline = performance.now() + timeoutMs;
    // The node announces readiness only in its log, and the packaged wrapper (su to the rabbitmq
    // user) may exit while the node runs on: a successful connection is the event to wait for.
    while (!(await brokerAnswers({ url }))) {
      const out = readFileSync(serverOut, "utf8").slice(bootFrom);
      if (/Kernel pid terminated|BOOT FAILED/.test(out)) {
        stop();
        const reason = /\{application_start_failure,rabbit,\{([a-z_]+)/.exec(out)?.[1] ?? "see the log";
        throw new CoffeeError("BROKER_UNAVAILABLE", `private rabbitmq-server failed to boot (${reason}); see ${serverOut}`);
      }
      if (performance.now() > deadline) {
        stop();
        throw new CoffeeError("BROKER_UNAVAILABLE", `private rabbitmq-server did not accept connections within ${timeoutMs / 1000} s; see ${join(dir, "log")}`);
      }
      await Bun.sleep(500);
    }
  };
  log(`starting a private RabbitMQ node ${nodeName} on port ${port} (data in ${dir})`);
  await start();
  return {
    url,
    tlsUrl: tlsPort === null ? null : `amqps://guest:guest@127.0.0.1:${tlsPort}`,
    nodeName,
    ctl: (args) => {
      const r = spawnSync("rabbitmqctl", ["-n", nodeName, "-q", ...args], { env, encoding: "utf8", timeout: 60_000 });
      if (r.status !== 0) throw new CoffeeError("BROKER_UNAVAILABLE", `rabbitmqctl ${args[0] ?? ""} failed: ${(r.stderr ?? "").trim()}`);
      return r.stdout ?? "";
    },
    stop,
    restart: async () => {
      stop();
      await start();
    },
  };
}
