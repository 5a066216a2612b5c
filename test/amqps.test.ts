/**
 * TLS to the broker and credentials kept out of sight: a private RabbitMQ node with a TLS
 * listener and a self-signed CA; the cluster reads an amqps:// URL (with a non-guest password)
 * from a file, trusts the CA from --amqp-ca-file, computes exact results, and no log line or
 * banner ever shows the password. Without the CA, startup fails with the verification error.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brokerProbe, startPrivateBroker, type PrivateBroker } from "../src/privateBroker.ts";
import { generate, readResults, reference, runCoffee, sessionDirFrom, startCluster, tempDir } from "./harness.ts";

setDefaultTimeout(240_000);

const installed = Bun.which("rabbitmq-server") !== null && Bun.which("openssl") !== null;
const PASSWORD = "tls-s3cret-pw";

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI, as an operator would). */
function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const run = (args: string[]): void => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=coffee test CA", "-keyout", "ca-key.pem", "-out", "ca.pem"]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server-key.pem", "-out", "server.csr"]);
  writeFileSync(join(dir, "san.ext"), "subjectAltName = IP:127.0.0.1, DNS:localhost\n");
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem"]);
  return { caFile: join(dir, "ca.pem"), certFile: join(dir, "server.pem"), keyFile: join(dir, "server-key.pem") };
}

describe.if(installed)("AMQPS and broker credentials", () => {
  let broker: PrivateBroker;
  let dir: string;
  let caFile: string;
  let tlsUrl: string;

  beforeAll(async () => {
    dir = tempDir("tls");
    const certs = makeCertificates(dir);
    caFile = certs.caFile;
    broker = await startPrivateBroker(join(dir, "rabbitmq"), () => {}, 90_000, certs);
    broker.ctl(["add_user", "coffee-app", PASSWORD]);
    broker.ctl(["set_permissions", "-p", "/", "coffee-app", ".*", ".*", ".*"]);
    tlsUrl = broker.tlsUrl!.replace("guest:guest", `coffee-app:${PASSWORD}`);
  });

  afterAll(() => {
    broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a cluster on amqps:// (URL from a file, CA from --amqp-ca-file) gives exact results over TLS, password never logged", async () => {
    const urlFile = join(dir, "amqp-url");
    writeFileSync(urlFile, `${tlsUrl}\n`, { mode: 0o600 });
    const cluster = await startCluster({ tag: "tls", extraArgs: ["--transport", "amqp"], env: { AMQP_URL: "", AMQP_URL_FILE: urlFile, AMQP_CA_FILE: caFile } });
    const data = tempDir("tlsdata");
    const out = tempDir("tlsout");
    try {
      await generate(data, 61, ["--months", "2024-01..2024-02", "--transactions-per-month", "2000", "--users", "300"]);
      const r = await runCoffee(["--role", "client", "--data", data, "--out", out, "--gateway", `127.0.0.1:${cluster.port}`, "--quiet"]);
      expect(r.code).toBe(0);
      expect(readResults(sessionDirFrom(r.stdout))).toEqual(await reference(data));
      // Every connection the cluster holds is the app user's, over TLS.
      const conns = broker.ctl(["list_connections", "user", "ssl"]).trim().split("\n").filter((l) => l.startsWith("coffee-app"));
      expect(conns.length).toBeGreaterThanOrEqual(5);
      expect(conns.every((l) => /\ttrue$/.test(l))).toBe(true);
      expect(cluster.banner).toContain("coffee-app:***@");
      const logs = readdirSync(join(cluster.stateDir, "logs")).map((f) => readFileSync(join(cluster.stateDir, "logs", f), "utf8")).join("\n");
      expect(logs).toContain("broker connected at amqps://coffee-app:***@");
      expect(`${logs}${cluster.banner}${r.stdout}${r.stderr}`).not.toContain(PASSWORD);
    } finally {
      await cluster.stop();
      rmSync(data, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("without the CA, coffee up fails at once naming the TLS verification error, password redacted", async () => {
    const r = await runCoffee(["up", "--transport", "amqp", "--state-dir", join(dir, "noca"), "--port", "1"], { AMQP_URL: tlsUrl, AMQP_CA_FILE: "" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("no broker answers at amqps://coffee-app:***@");
    expect(r.stderr).toMatch(/certificate/i);
    expect(r.stderr).not.toContain(PASSWORD);
  });

  test("a certificate that does not name the IP in the URL is refused, though the CA is trusted", async () => {
    // Same listener, reached as 127.0.0.2: the certificate names 127.0.0.1 only.
    const failure = await brokerProbe({ url: tlsUrl.replace("@127.0.0.1:", "@127.0.0.2:"), caFile });
    expect(failure).not.toBeNull();
    expect(failure!).not.toMatch(/ECONNREFUSED/);
    expect(failure!).toMatch(/not in the cert|altname|does not match/i);
    expect(await brokerProbe({ url: tlsUrl, caFile })).toBeNull();
  });

  test("the URL is refused as a flag, so it never shows in ps or shell history", async () => {
    const r = await runCoffee(["--role", "worker", "--stage", "filter-year", "--amqp-url", tlsUrl]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("CONFIG_INVALID");
    expect(r.stderr).toContain("AMQP_URL_FILE");
    expect(r.stderr).not.toContain(PASSWORD);
  });
});
