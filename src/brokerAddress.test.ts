import { describe, expect, test } from "bun:test";
import type { PeerCertificate } from "node:tls";
import { brokerAddress, brokerClosedAtOpen, brokerEnv, brokerRefusedUs, socketOptions } from "./brokerAddress.ts";
import { CoffeeError } from "./errors.ts";

const cert = (altnames: string): PeerCertificate => ({ subject: { CN: "x" }, subjectaltname: altnames }) as unknown as PeerCertificate;

describe("broker address", () => {
  test("only amqp:// and amqps:// URLs are accepted, and the error does not echo the password", () => {
    let err: unknown;
    try {
      brokerAddress({ "amqp-url": "http://u:pw@h:5672" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CoffeeError);
    expect((err as CoffeeError).code).toBe("CONFIG_INVALID");
    expect((err as Error).message).not.toContain("pw");
  });

  test("a URL that does not parse (a port that is not a number, a stray comma) is a config error without the password, not a broker that does not answer", () => {
    for (const url of ["amqp://u:secretpw@h:56x72", "amqp://u:secretpw@h:5672,x", "amqp://", "amqp://u:secretpw@:5672"]) {
      let err: unknown;
      try {
        brokerAddress({ "amqp-url": url });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CoffeeError);
      expect((err as CoffeeError).code).toBe("CONFIG_INVALID");
      expect((err as Error).message).toContain("is not a broker URL");
      expect((err as Error).message).not.toContain("secretpw");
    }
    expect(() => brokerAddress({ "amqp-url": " , " })).toThrow(/AMQP_URL is empty/);
  });

  test("spaces and commas around a URL or a list are dropped, not taken into a host name", () => {
    expect(() => brokerAddress({ "amqp-url": "amqp://u:p@h:5672, " })).not.toThrow();
    expect(() => brokerAddress({ "amqp-url": "amqp://u:p@h:5672 ,amqp://u:p@g:5672,\n" })).not.toThrow();
  });

  test("an unreadable CA file is a config error at startup, not a reconnect loop later", () => {
    expect(() => brokerAddress({ "amqp-url": "amqps://h", "amqp-ca-file": "/nonexistent/ca.pem" })).toThrow(/amqp-ca-file/);
  });

  test("plain amqp:// gets no TLS options; a DNS host keeps amqplib's own server name", () => {
    expect(socketOptions({ url: "amqp://h:5672" }, "amqp://h:5672", { timeout: 5 })).toEqual({ timeout: 5 });
    expect(socketOptions({ url: "amqps://broker.example:5671" }, "amqps://broker.example:5671")).toEqual({});
  });

  test("an IP host is verified against the certificate's IP entries, strictly", () => {
    const opts = socketOptions({ url: "amqps://u:p@10.1.2.3:5671" }, "amqps://u:p@10.1.2.3:5671");
    const check = opts.checkServerIdentity as (name: string, c: PeerCertificate) => Error | undefined;
    expect(typeof opts.servername).toBe("string");
    expect(check("ignored", cert("IP Address:10.1.2.3"))).toBeUndefined();
    expect(check("ignored", cert("IP Address:10.9.9.9, DNS:amqp-broker.invalid"))).toBeInstanceOf(Error);
  });

  test("children get the URL in env and an inherited AMQP_URL_FILE blanked", () => {
    expect(brokerEnv({ url: "amqp://h", caFile: "/ca.pem" })).toEqual({ AMQP_URL: "amqp://h", AMQP_URL_FILE: "", AMQP_CA_FILE: "/ca.pem" });
  });
});

test("only a broker that answered and refused us (credentials, certificate) is told apart from nothing answering", () => {
  const refused = [
    'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN."',
    'Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - vhost nope not found"',
    "self-signed certificate in certificate chain",
    "Hostname/IP does not match certificate's altnames: IP: 127.0.0.2 is not in the cert's list: 127.0.0.1",
    "unable to verify the first certificate",
    "write EPROTO 140000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number",
    "tlsv1 alert protocol version",
  ];
  const nothing = [
    "connect ECONNREFUSED 127.0.0.1:5672",
    "connect ECONNREFUSED 127.0.0.1:403",
    "connect ETIMEDOUT",
    "Socket closed abruptly during opening handshake",
    "connect EADDRNOTAVAIL ::1:5672 - Local (:::0)",
    "read ECONNRESET",
    "getaddrinfo ENOTFOUND rabbitmq",
    "connect EPERM 10.0.0.5:5672",
    // Limits a killed process's lingering connections can hold for a while: retried, not final.
    `Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - access to vhost '/' refused for user 'coffee': connection limit (10) is reached"`,
    `Handshake terminated by server: 530 (NOT-ALLOWED) with message "NOT_ALLOWED - Connection refused for user 'coffee'. User connection limit (5) is reached"`,
    // What amqplib 0.10 actually says for a missing vhost or a reached limit (RabbitMQ 3.10).
    "Expected ConnectionOpenOk; got <ConnectionClose channel:0>",
  ];
  for (const m of refused) expect([m, brokerRefusedUs(m)]).toEqual([m, true]);
  for (const m of nothing) expect([m, brokerRefusedUs(m)]).toEqual([m, false]);
  // The last three are the ones that say a broker answered and may take us later.
  expect(nothing.filter(brokerClosedAtOpen)).toEqual(nothing.slice(-3));
  expect(refused.some(brokerClosedAtOpen)).toBe(false);
  // Several nodes: each node's failure counts alone, so one closing as it opened (or down) does
  // not hide another's refusal, and no refusal anywhere is still no refusal.
  const cluster = (...failures: string[]): string => `no node of the RabbitMQ cluster took the connection: ${failures.map((f, i) => `amqp://u:***@n${i}: ${f}`).join(" | ")}`;
  for (const m of refused) expect([m, brokerRefusedUs(cluster(nothing.at(-1)!, m)), brokerRefusedUs(cluster(m, nothing[0]!))]).toEqual([m, true, true]);
  expect(brokerRefusedUs(cluster(...nothing))).toBe(false);
});
