/** The five dataset entities and the CSV columns (by header name) each query needs from them. */

/** Entity names, which are also the dataset's folder names. */
export const ENTITIES = ["transactions", "transaction_items", "users", "stores", "menu_items"] as const;
/** One of the five dataset entities. */
export type Entity = (typeof ENTITIES)[number];

/**
 * Columns the client projects from each file, in this order. Other columns are ignored, which is
 * also what makes files with extra columns acceptable.
 */
export const ENTITY_COLUMNS: Readonly<Record<Entity, readonly string[]>> = {
  transactions: ["transaction_id", "store_id", "user_id", "final_amount", "created_at"],
  transaction_items: ["item_id", "quantity", "subtotal", "created_at"],
  users: ["user_id", "birthdate"],
  stores: ["store_id", "store_name"],
  menu_items: ["item_id", "item_name"],
};

/**
 * Longest field (UTF-8 bytes) a row may hold by default; a row with a longer one is rejected like
 * any malformed row. The gateway's --max-field-bytes default, and `coffee reference`'s limit, so
 * both keep the same rows.
 */
export const MAX_FIELD_BYTES = 65_536;

/** Type guard for entity names arriving from the network. */
export function isEntity(value: unknown): value is Entity {
  return typeof value === "string" && (ENTITIES as readonly string[]).includes(value);
}

/** The four reports. */
export const QUERIES = ["q1", "q2", "q3", "q4"] as const;
/** One of the four reports. */
export type QueryName = (typeof QUERIES)[number];

/** Type guard for query names. */
export function isQueryName(value: unknown): value is QueryName {
  return typeof value === "string" && (QUERIES as readonly string[]).includes(value);
}

/** Result file name of a query (README "client"). */
export function queryFileName(query: QueryName): string {
  return `query${query.slice(1)}.csv`;
}
