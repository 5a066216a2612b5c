import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { DecodeError } from "./errors.ts";
import { decodeClientMessage, decodeGatewayMessage, encodeProtocol, MAX_HEARTBEAT_MS } from "./protocol.ts";

test("an unknown message type is a DecodeError naming it, whatever it is (a 64-bit integer included)", () => {
  const packr = new Packr({ useRecords: false, moreTypes: true });
  for (const t of [2n ** 63n + 5n, "nope", { a: 1 }, null]) {
    const bytes = packr.pack({ t });
    for (const decode of [decodeClientMessage, decodeGatewayMessage]) {
      expect(() => decode(bytes)).toThrow(DecodeError);
      expect(() => decode(bytes)).toThrow("message type");
    }
  }
});

test("a welcome names the gateway's heartbeat interval; one without it, or with 0, is FRAME_MALFORMED", () => {
  const welcome = { t: "welcome" as const, session: "s", maxInFlight: 8, resumed: false };
  expect(decodeGatewayMessage(encodeProtocol({ ...welcome, heartbeatMs: 10_000 }))).toEqual({ ...welcome, heartbeatMs: 10_000 });
  for (const heartbeatMs of [undefined, 0, -1, 1.5, "10", MAX_HEARTBEAT_MS + 1]) {
    const bytes = encodeProtocol({ ...welcome, heartbeatMs } as never);
    expect(() => decodeGatewayMessage(bytes)).toThrow("heartbeatMs");
    expect(codeOf(() => decodeGatewayMessage(bytes))).toBe("FRAME_MALFORMED");
  }
  expect(decodeGatewayMessage(encodeProtocol({ t: "heartbeat" }))).toEqual({ t: "heartbeat" });
});

/** The code of what `f` throws, or null. */
function codeOf(f: () => unknown): string | null {
  try {
    f();
    return null;
  } catch (err) {
    return (err as DecodeError).code;
  }
}

test("a heartbeat may say the broker takes no publishes; anything but true there is a plain heartbeat", () => {
  expect(decodeGatewayMessage(encodeProtocol({ t: "heartbeat" }))).toEqual({ t: "heartbeat" });
  expect(decodeGatewayMessage(encodeProtocol({ t: "heartbeat", brokerHeld: true }))).toEqual({ t: "heartbeat", brokerHeld: true });
  expect(decodeGatewayMessage(encodeProtocol({ t: "heartbeat", brokerHeld: "yes" } as never))).toEqual({ t: "heartbeat" });
});

test("an ack may say why each rejected line was; without reasons, or with reasons that do not pair up, it reads as before", () => {
  const ack = { t: "ack" as const, entity: "transactions" as const, seq: 4, rejected: [12, 30] };
  expect(decodeGatewayMessage(encodeProtocol(ack))).toEqual(ack);
  const why = { ...ack, reasons: ["final_amount is not an amount exact to the cent, from -90071992547409.91 to 90071992547409.91 (at most 15 digits before the point)", "3 fields where the header has 9"] };
  expect(decodeGatewayMessage(encodeProtocol(why))).toEqual(why);
  for (const reasons of [["one"], ["a", 2], "a,b", null]) {
    expect(decodeGatewayMessage(encodeProtocol({ ...ack, reasons } as never))).toEqual(ack);
  }
  expect(codeOf(() => decodeGatewayMessage(encodeProtocol({ ...ack, rejected: [12, -1] })))).toBe("FRAME_MALFORMED");
});

test("a resume's session id is letters, digits, - and _ only: a newline or escape in one is FRAME_MALFORMED", () => {
  const resume = { t: "resume" as const, v: 6, sent: {}, eos: [] };
  const id = "2662d588-7239-466e-ba2e-a27c2db73d2e";
  expect(decodeClientMessage(encodeProtocol({ ...resume, session: id }))).toEqual({ ...resume, session: id });
  for (const session of ["x\n2099-01-01T00:00:00.000Z gateway INFO ok", "\u001b[2J", "", "a".repeat(65), "../x", "id with space"]) {
    const bytes = encodeProtocol({ ...resume, session });
    expect(codeOf(() => decodeClientMessage(bytes))).toBe("FRAME_MALFORMED");
  }
});

test("a welcome's session id is letters, digits, - and _ only: it names the client's results folder", () => {
  const welcome = { t: "welcome" as const, maxInFlight: 8, resumed: false, heartbeatMs: 10_000 };
  for (const session of ["../../etc", "a/b", "x\u001b[2J", ""]) {
    expect(codeOf(() => decodeGatewayMessage(encodeProtocol({ ...welcome, session })))).toBe("FRAME_MALFORMED");
  }
});
