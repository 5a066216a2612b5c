import { expect, test } from "bun:test";
import { Packr } from "msgpackr";
import { DecodeError } from "./errors.ts";
import { decodeClientMessage, decodeGatewayMessage } from "./protocol.ts";

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
