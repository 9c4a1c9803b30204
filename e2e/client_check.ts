// Uses the TypeScript types that openapi-typescript generated from
// openapi/openapi.json (e2e/run.sh writes them to e2e/out/ts/tollgate.ts,
// type-checks this file against them with tsc, then runs the output with
// node). Requests and answers are typed by operationId, so a change of the
// spec that breaks this use is a compile error before anything runs.
//
// Environment: E2E_BASE_URL, E2E_CLIENT_USER, E2E_CLIENT_PASSWORD (a user
// holding read:items and write:items, and not admin).

import type { components, operations } from "./out/ts/tollgate.js";

type Schemas = components["schemas"];
type JsonBody = "application/json; charset=utf-8";
/** The JSON body of operation `Op` answering `Status`. */
type Answer<Op extends keyof operations, Status extends keyof operations[Op]["responses"]> =
  operations[Op]["responses"][Status] extends { content: Record<JsonBody, infer T> } ? T : never;
type TokenForm = operations["issue_token"]["requestBody"]["content"]["application/x-www-form-urlencoded"];

// Compile-time checks of what the spec promises generated clients.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
// `email` and `full_name` are always present, maybe null (required + nullable).
const emailIsPresentMaybeNull: Equal<Schemas["User"]["email"], string | null> = true;
const nextCursorIsPresentMaybeNull: Equal<Schemas["ItemPage"]["next_cursor"], string | null> = true;
// `scopes` holds the Scope enum, not any string.
const scopesAreTheEnum: Equal<Schemas["User"]["scopes"][number], "read:items" | "write:items" | "admin" | "introspect" | "events"> =
  true;
void [emailIsPresentMaybeNull, nextCursorIsPresentMaybeNull, scopesAreTheEnum];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const BASE = env("E2E_BASE_URL");
const USER = env("E2E_CLIENT_USER");
const PASSWORD = env("E2E_CLIENT_PASSWORD");

function say(message: string): void {
  console.log(`  [ts client] ${message}`);
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function token(form: TokenForm): Promise<Response> {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) {
    if (typeof value === "string") body.set(key, value);
  }
  return fetch(`${BASE}/token`, { method: "POST", body });
}

async function main(): Promise<void> {
  const wrong = await token({ grant_type: "password", username: USER, password: "not-the-password" });
  const refused = (await wrong.json()) as Answer<"issue_token", 400>;
  check(wrong.status === 400 && refused.error === "invalid_grant", `a wrong password gave ${wrong.status}`);
  say("POST /token with a wrong password: 400 ErrorBody(error=invalid_grant)");

  const issued = await token({ grant_type: "password", username: USER, password: PASSWORD });
  check(issued.status === 200, `POST /token answered ${issued.status}`);
  const tokens = (await issued.json()) as Answer<"issue_token", 200>;
  check(tokens.token_type === "bearer" && tokens.access_token.length > 0, `unexpected token body`);
  say(`POST /token: 200 TokenBody(scope=${JSON.stringify(tokens.scope)}, expires_in=${tokens.expires_in})`);

  const auth = { Authorization: `Bearer ${tokens.access_token}` };
  const response = await fetch(`${BASE}/users/me`, { headers: auth });
  check(response.status === 200, `GET /users/me answered ${response.status}`);
  const me: Schemas["User"] = (await response.json()) as Answer<"get_me", 200>;
  check(me.username === USER, `GET /users/me gave ${me.username}`);
  const wanted: Schemas["Scope"][] = ["read:items", "write:items"];
  check(
    wanted.every((scope) => me.scopes.includes(scope)),
    `unexpected scopes ${me.scopes.join(" ")}`,
  );
  check("email" in me && "full_name" in me, "email and full_name are always sent");
  say(`GET /users/me: User(id=${me.id}, username=${me.username}, email=${me.email}, scopes=${me.scopes.join(" ")})`);

  const users = await fetch(`${BASE}/users`, { headers: auth });
  const denied = (await users.json()) as Answer<"list_users", 403>;
  check(users.status === 403 && denied.error === "insufficient_scope", `GET /users answered ${users.status}`);
  say("GET /users without admin: 403 ErrorBody(error=insufficient_scope)");
}

main().catch((error: unknown) => {
  console.error(`  [ts client] FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
