/**
 * The page of a station of a tenant; its chart shows a session (`transactionRef`), the last 24 hours (`'day'`), or by
 * default the live session while there is one.
 */
export function stationHref(tenantId: number, identity: string, view?: number | 'day'): string {
  const page = `/tenants/${tenantId}/stations/${encodeURIComponent(identity)}`;
  if (view === undefined) return page;
  return view === 'day' ? `${page}?range=day` : `${page}?transaction=${view}`;
}

/**
 * Where a session charges or a connector is, in a "Connector" column: "1" under OCPP 1.6 (the connector: no EVSE;
 * connector 0 is the station as a whole), "2 / 1" under 2.0.1 (EVSE / connector).
 */
export function place(t: { evseId: number | null; connectorId: number | null }): string {
  if (t.evseId === null) return t.connectorId === null ? '—' : t.connectorId === 0 ? 'Station' : String(t.connectorId);
  return `${t.evseId} / ${t.connectorId ?? '—'}`;
}

/** The same in a sentence: "connector 1", "EVSE 2, connector 1". */
export function placeName(t: { evseId: number | null; connectorId: number | null }): string {
  if (t.evseId === null) return t.connectorId === null ? 'no connector' : t.connectorId === 0 ? 'the station' : `connector ${t.connectorId}`;
  return `EVSE ${t.evseId}, connector ${t.connectorId ?? '—'}`;
}
