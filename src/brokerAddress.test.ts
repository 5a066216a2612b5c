import { describe, expect, test } from "bun:test";
import type { PeerCertificate } from "node:tls";
import { brokerAddress, brokerEnv, socketOptions } from "./brokerAddress.ts";
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

  test("an unreadable CA file is a config error at startup, not a reconnect loop later", () => {
    expect(() => brokerAddress({ "amqp-url": "amqps://h", "amqp-ca-file": "/nonexistent/ca.pem" })).toThrow(/amqp-ca-file/);
  });

  test("plain amqp:// gets no TLS options; a DNS host keeps amqplib's own server name", () => {
    expect(socketOptions({ url: "amqp://h:5672" }, { timeout: 5 })).toEqual({ timeout: 5 });
    expect(socketOptions({ url: "amqps://broker.example:5671" })).toEqual({});
  });

  test("an IP host is verified against the certificate's IP entries, strictly", () => {
    const opts = socketOptions({ url: "amqps://u:p@10.1.2.3:5671" });
    const check = opts.checkServerIdentity as (name: string, c: PeerCertificate) => Error | undefined;
    expect(typeof opts.servername).toBe("string");
    expect(check("ignored", cert("IP Address:10.1.2.3"))).toBeUndefined();
    expect(check("ignored", cert("IP Address:10.9.9.9, DNS:amqp-broker.invalid"))).toBeInstanceOf(Error);
  });

  test("children get the URL in env and an inherited AMQP_URL_FILE blanked", () => {
    expect(brokerEnv({ url: "amqp://h", caFile: "/ca.pem" })).toEqual({ AMQP_URL: "amqp://h", AMQP_URL_FILE: "", AMQP_CA_FILE: "/ca.pem" });
  });
});
