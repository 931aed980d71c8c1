import type { z } from 'zod';
import type { OcppVersion } from '../../contract/index.ts';
import type { Observation } from '../../db/observations.ts';
import { v16 as schema16, v201 as schema201 } from './payloads.ts';
import { samples16, samples201 } from './samples.ts';

/**
 * A frame as the forwarding thread captured it: only what it already had (the frame's text, the session's facts,
 * the call a result answers). Everything else (JSON, zod, samples, badges) happens in the writer's thread.
 */
export interface Captured {
  tenantId: number;
  identity: string;
  version: OcppVersion;
  action: string;
  /** When the broker received the call, ms since the epoch. */
  at: number;
  /** The CALL frame, as received. */
  call: string;
  /** The CALLRESULT frame, for the actions whose answer the writer reads (`awaitsResult`). */
  result?: string;
  /** The broker's own answer (Authorize in `broker` authorization mode). */
  answer?: string;
}

/** 2.0.1 tables serve OCPP 2.1 too: the fields read here did not change. */
export type { OcppVersion } from '../../contract/index.ts';

/** Why a captured frame was not recorded (it was forwarded all the same; the CPMS judges it). */
export type SkipReason = 'invalid_json' | 'schema_mismatch';

export type Reading = { observations: Observation[] } | { skipped: SkipReason };

interface Handler {
  /** The frame is captured a second time with the CALLRESULT (1.6 StartTransaction: the CPMS numbers it). */
  awaitsResult?: true;
  read(c: Captured): Observation[];
}

class Skip extends Error {
  readonly reason: SkipReason;
  constructor(reason: SkipReason) {
    super(reason);
    this.reason = reason;
  }
}

/** Element `index` of a frame (`[2, id, action, payload]`: 3; `[3, id, payload]`: 2), fitted to `schema`. */
function fit<T extends z.ZodType>(schema: T, frame: string, index: number): z.infer<T> {
  let payload: unknown;
  try {
    payload = (JSON.parse(frame) as unknown[])[index];
  } catch {
    throw new Skip('invalid_json');
  }
  const result = schema.safeParse(payload);
  if (!result.success) throw new Skip('schema_mismatch');
  return result.data;
}

/** A call's payload, for a frame already read once. */
function payloadOf(call: string): unknown {
  try {
    return (JSON.parse(call) as unknown[])[3];
  } catch {
    return undefined;
  }
}

const where = (c: Captured) => ({ tenantId: c.tenantId, identity: c.identity });

const v16: Record<string, Handler> = {
  Authorize: {
    read(c) {
      const p = fit(schema16.Authorize, c.call, 3);
      return [{ ...where(c), kind: 'identified', at: new Date(c.at), action: 'Authorize', badgeId: p.idTag, answer: c.answer ?? null }];
    },
  },
  StartTransaction: {
    awaitsResult: true,
    read(c) {
      if (c.result === undefined) {
        const p = fit(schema16.StartTransaction, c.call, 3);
        return [{ ...where(c), kind: 'identified', at: p.timestamp, action: 'StartTransaction', badgeId: p.idTag, answer: null }];
      }
      const p = schema16.StartTransaction.safeParse(payloadOf(c.call)).data;
      if (!p) return []; // counted as skipped when the call was read
      const result = fit(schema16.StartTransactionResult, c.result, 2);
      const transactionId = String(result.transactionId);
      return [{ ...where(c), kind: 'started16', at: p.timestamp, transactionId, connectorId: p.connectorId, badgeId: p.idTag, meterStartWh: p.meterStart }];
    },
  },
  StopTransaction: {
    read(c) {
      const p = fit(schema16.StopTransaction, c.call, 3);
      return [
        {
          ...where(c),
          kind: 'stopped16',
          at: p.timestamp,
          transactionId: String(p.transactionId),
          meterStopWh: p.meterStop,
          reason: p.reason ?? null,
          badgeId: p.idTag ?? null,
          samples: samples16(p.transactionData ?? []),
        },
      ];
    },
  },
  MeterValues: {
    read(c) {
      const p = fit(schema16.MeterValues, c.call, 3);
      const transactionId = p.transactionId === undefined ? null : String(p.transactionId);
      return [{ ...where(c), kind: 'meter', evseId: null, connectorId: p.connectorId, transactionId, samples: samples16(p.meterValue) }];
    },
  },
  BootNotification: {
    read(c) {
      const p = fit(schema16.BootNotification, c.call, 3);
      const serialNumber = p.chargePointSerialNumber ?? p.chargeBoxSerialNumber ?? null;
      const facts = { vendor: p.chargePointVendor, model: p.chargePointModel, serialNumber, firmwareVersion: p.firmwareVersion ?? null };
      return [{ ...where(c), kind: 'boot', at: new Date(c.at), ...facts }];
    },
  },
  StatusNotification: {
    read(c) {
      const p = fit(schema16.StatusNotification, c.call, 3);
      const at = p.timestamp ?? new Date(c.at);
      return [{ ...where(c), kind: 'status', at, evseId: 0, connectorId: p.connectorId, status: p.status, errorCode: p.errorCode }];
    },
  },
};

const v201: Record<string, Handler> = {
  Authorize: {
    read(c) {
      const p = fit(schema201.Authorize, c.call, 3);
      return [{ ...where(c), kind: 'identified', at: new Date(c.at), action: 'Authorize', badgeId: p.idToken.idToken, answer: c.answer ?? null }];
    },
  },
  TransactionEvent: {
    read(c) {
      const p = fit(schema201.TransactionEvent, c.call, 3);
      const event: Observation = {
        ...where(c),
        kind: 'event201',
        at: p.timestamp,
        eventType: p.eventType,
        transactionId: p.transactionInfo.transactionId,
        evseId: p.evse?.id ?? null,
        connectorId: p.evse?.connectorId ?? null,
        badgeId: p.idToken?.idToken ?? null,
        stoppedReason: p.transactionInfo.stoppedReason ?? null,
        samples: samples201(p.meterValue ?? []),
      };
      if (!p.idToken || p.eventType === 'Ended') return [event];
      return [{ ...where(c), kind: 'identified', at: p.timestamp, action: 'TransactionEvent', badgeId: p.idToken.idToken, answer: null }, event];
    },
  },
  MeterValues: {
    read(c) {
      const p = fit(schema201.MeterValues, c.call, 3);
      return [{ ...where(c), kind: 'meter', evseId: p.evseId, connectorId: null, transactionId: null, samples: samples201(p.meterValue) }];
    },
  },
  BootNotification: {
    read(c) {
      const cs = fit(schema201.BootNotification, c.call, 3).chargingStation;
      const facts = { vendor: cs.vendorName, model: cs.model, serialNumber: cs.serialNumber ?? null, firmwareVersion: cs.firmwareVersion ?? null };
      return [{ ...where(c), kind: 'boot', at: new Date(c.at), ...facts }];
    },
  },
  StatusNotification: {
    read(c) {
      const p = fit(schema201.StatusNotification, c.call, 3);
      return [{ ...where(c), kind: 'status', at: p.timestamp, evseId: p.evseId, connectorId: p.connectorId, status: p.connectorStatus, errorCode: null }];
    },
  },
};

const handlers: Record<OcppVersion, Record<string, Handler>> = { '1.6': v16, '2.0.1': v201 };

/** Whether station calls of `action` are captured, and whether their answer is captured too. */
export function captures(version: OcppVersion, action: string): { awaitsResult: boolean } | undefined {
  const handler = Object.hasOwn(handlers[version], action) ? handlers[version][action] : undefined;
  return handler && { awaitsResult: handler.awaitsResult === true };
}

/** What a captured frame says, or why it says nothing the broker records. Never throws for a payload's sake. */
export function read(c: Captured): Reading {
  const handler = Object.hasOwn(handlers[c.version], c.action) ? handlers[c.version][c.action] : undefined;
  if (!handler) return { observations: [] };
  try {
    return { observations: handler.read(c) };
  } catch (error) {
    if (error instanceof Skip) return { skipped: error.reason };
    throw error;
  }
}
