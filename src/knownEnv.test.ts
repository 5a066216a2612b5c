import { expect, test } from "bun:test";
import { loadAll, ROLE_ENTRIES, TOOL_ENTRIES } from "./commandRegistry.ts";
import { OPTION_ENV_NAMES, OTHER_ENV_NAMES, unknownCoffeeEnv, unknownEnvWarnings } from "./knownEnv.ts";

test("the list of option variables is exactly what every command's options read", async () => {
  const commands = [...(await loadAll(ROLE_ENTRIES)), ...(await loadAll(TOOL_ENTRIES))];
  const read = new Set<string>();
  for (const c of commands) {
    for (const o of c.options) {
      if (!o.env?.startsWith("COFFEE_")) continue;
      read.add(o.env);
      if (o.secret) read.add(`${o.env}_FILE`);
    }
  }
  expect([...OPTION_ENV_NAMES].sort()).toEqual([...read].sort());
  // The others are read by something else, not by an option.
  for (const name of Object.keys(OTHER_ENV_NAMES)) expect(read.has(name)).toBe(false);
});

test("a COFFEE_ variable coffee does not read is named; other variables and unset ones are not", () => {
  const env = {
    COFFEE_MAX_FIELD_CHARS: "100", COFFEE_MAX_FIELD_BYTES: "100", COFFEE_NAMESPAC: "x", COFFEE_TOKEN_FILE: "/run/secrets/t",
    COFFEE_PARENT_PID: "1", COFFEE_UID: "1000", COFFEE_UNSET: undefined, GATEWAY_PORT: "9000", HOME: "/root",
  };
  expect(unknownCoffeeEnv(env)).toEqual(["COFFEE_MAX_FIELD_CHARS", "COFFEE_NAMESPAC"]);
  // What Kubernetes sets for a Service named coffee-gateway is not the user's.
  const kubernetes = ["COFFEE_GATEWAY_SERVICE_HOST", "COFFEE_GATEWAY_SERVICE_PORT", "COFFEE_GATEWAY_SERVICE_PORT_CLIENTS", "COFFEE_GATEWAY_PORT", "COFFEE_GATEWAY_PORT_9000_TCP", "COFFEE_GATEWAY_PORT_9000_TCP_PROTO", "COFFEE_GATEWAY_PORT_9000_TCP_PORT", "COFFEE_GATEWAY_PORT_9000_TCP_ADDR"];
  expect(unknownCoffeeEnv(Object.fromEntries(kubernetes.map((k) => [k, "x"])))).toEqual([]);
  expect(unknownEnvWarnings(env)[0]).toBe("coffee: warning: COFFEE_MAX_FIELD_CHARS is set, but no coffee option reads it (misspelt, or renamed? coffee --help lists every variable); ignored\n");
  expect(unknownEnvWarnings({ COFFEE_NAMESPACE: "a" })).toEqual([]);
});
