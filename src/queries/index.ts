/** The four query reducers by name. */
import type { QueryName } from "../schema.ts";
import { q1Reducer } from "./q1.ts";
import { q2Reducer } from "./q2.ts";
import { q3Reducer } from "./q3.ts";
import { q4Reducer } from "./q4.ts";
import type { QueryReducer } from "./reducer.ts";

/** Reducer of each query. */
export const REDUCERS: Readonly<Record<QueryName, QueryReducer>> = {
  q1: q1Reducer as QueryReducer,
  q2: q2Reducer as QueryReducer,
  q3: q3Reducer as QueryReducer,
  q4: q4Reducer as QueryReducer,
};
