/** What the admin API sees of one live station link (and its CPMS link). */
export interface StationInfo {
  tenantId: number;
  tenantSlug: string;
  identity: string;
  /** The subprotocol the CPMS selected, or null when none was negotiated. */
  subprotocol: string | null;
  connectedAt: Date;
  remoteAddress: string;
  lastFrameAt: Date | null;
  /** Frames received from the station. */
  framesIn: number;
  /** Frames sent to the station. */
  framesOut: number;
  /** The Heartbeat interval the CPMS gave it in the BootNotification answer on this link, in seconds; null before. */
  heartbeatIntervalS: number | null;
}
