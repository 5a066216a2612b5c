/** A gateway open to the network without a token, and what is said of it. */

/** Whether `host` is every interface of the machine (a gateway there is open to the network). */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

/** Said when the gateway listens on every interface and asks clients for no token. */
export const OPEN_GATEWAY_WARNING = "the gateway listens on every interface and asks clients for no token: anyone who can reach its port can open sessions and send data; set COFFEE_TOKEN (or COFFEE_TOKEN_FILE) to a shared secret, which clients then give in theirs";
