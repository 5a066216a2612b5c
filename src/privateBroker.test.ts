import { expect, test } from "bun:test";
import { brokerRefusedUs } from "./privateBroker.ts";

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
  ];
  for (const m of refused) expect([m, brokerRefusedUs(m)]).toEqual([m, true]);
  for (const m of nothing) expect([m, brokerRefusedUs(m)]).toEqual([m, false]);
});
