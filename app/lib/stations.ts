/** The page of a station of a tenant; with a transaction, its chart shows that session. */
export function stationHref(tenantId: number, identity: string, transactionRef?: number): string {
  const page = `/tenants/${tenantId}/stations/${encodeURIComponent(identity)}`;
  return transactionRef === undefined ? page : `${page}?transaction=${transactionRef}`;
}

/**
 * Where a session charges or a connector is: "1" under OCPP 1.6 (the connector; the broker stores EVSE 0 or none),
 * "2 / 1" under 2.0.1 (EVSE / connector).
 */
export function place(t: { evseId: number | null; connectorId: number | null }): string {
  if (t.evseId === null || t.evseId === 0) return t.connectorId === null ? '—' : String(t.connectorId);
  return `${t.evseId} / ${t.connectorId ?? '—'}`;
}
