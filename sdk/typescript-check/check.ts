// A typed checkout, heartbeat and release over fetch with the types that
// openapi-typescript generates from Usher's OpenAPI document: if the
// document and this use of it disagree, tsc fails.
import type { components, paths } from "./generated/api";

type Lease = components["schemas"]["LeaseResponse"];
type ApiError = components["schemas"]["Error"];
type CheckoutBody = paths["/v1/leases"]["post"]["requestBody"]["content"]["application/json"];
type Heartbeat = paths["/v1/leases/{id}/heartbeat"]["post"]["responses"]["200"]["content"]["application/json"];
type Features = paths["/v1/features"]["get"]["responses"]["200"]["content"]["application/json"];

async function call<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const resp = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!resp.ok) {
    const err = (await resp.json()) as ApiError;
    throw new Error(`${err.code}: ${err.message}`);
  }
  return (resp.status === 204 ? undefined : await resp.json()) as T;
}

export async function holdSeat(base: string, feature: string): Promise<string> {
  const body: CheckoutBody = { feature, client: { id: "typescript-check", user: "ts" }, wait: "10s" };
  const lease = await call<Lease>(base, "POST", "/v1/leases", body);
  const beat = await call<Heartbeat>(base, "POST", `/v1/leases/${encodeURIComponent(lease.id)}/heartbeat`);
  const features = await call<Features>(base, "GET", "/v1/features");
  const inUse = features.features.find((f) => f.name === feature)?.in_use ?? 0;
  await call<void>(base, "DELETE", `/v1/leases/${encodeURIComponent(lease.id)}`);
  return `${lease.id} held until ${beat.expires_at} every ${lease.heartbeat_interval}; ${inUse} in use`;
}
