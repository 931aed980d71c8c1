import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Envelope, RouteHooks } from '../../broker/index.ts';
import { findDriverByBadge } from '../../db/badges.ts';
import type { Db } from '../../db/index.ts';
import { getTenant } from '../../db/tenants.ts';
import { v16, v201 } from './payloads.ts';
import { samples16, samples201 } from './samples.ts';
import type { Writer } from './writer.ts';

/** Where the payload is in a CALL: `[2, id, action, payload]`. */
const PAYLOAD = 3;

interface SessionFacts {
  tenantId: number;
  tenantSlug: string;
  identity: string;
  subprotocol: string | null;
}

/**
 * Reads what the broker needs from each session's traffic: badges (tied to drivers), transactions, meter values,
 * station facts. Frames are read after they are forwarded, and what they say is queued for the writer. In the
 * tenant's `broker` authorization mode, Authorize is answered here from the driver list instead of forwarded.
 */
export function createObservers(db: Db, writer: Writer, log: Logger) {
  return (session: SessionFacts): RouteHooks => {
    const version = session.subprotocol?.startsWith('ocpp2') ? '2.0.1' : '1.6';
    const where = { tenantId: session.tenantId, identity: session.identity };
    /** 1.6 StartTransaction calls waiting for the CPMS to number them: message id → what the station sent. */
    const starting = new Map<string, z.infer<typeof v16.StartTransaction>>();
    /** Authorize calls the broker answered itself: message id → its answer, recorded when the call is observed. */
    const answered = new Map<string, string>();

    function parse<T extends z.ZodType>(schema: T, frame: Buffer, index: number): z.infer<T> | undefined {
      try {
        const result = schema.safeParse((JSON.parse(frame.toString()) as unknown[])[index]);
        if (result.success) return result.data;
        log.debug({ ...where, issues: result.error.issues.slice(0, 3) }, 'payload not recorded: it does not fit the schema');
      } catch {
        // not JSON: forwarded as it was, nothing to record
      }
      return undefined;
    }

    function answerTo(id: string): string | null {
      const answer = answered.get(id) ?? null;
      answered.delete(id);
      return answer;
    }

    function fromStation(call: { id: string; action: string }, frame: Buffer) {
      if (version === '1.6') {
        switch (call.action) {
          case 'Authorize': {
            const p = parse(v16.Authorize, frame, PAYLOAD);
            if (p) writer.push({ ...where, kind: 'identified', at: new Date(), action: 'Authorize', badgeId: p.idTag, answer: answerTo(call.id) });
            return;
          }
          case 'StartTransaction': {
            const p = parse(v16.StartTransaction, frame, PAYLOAD);
            if (p) {
              starting.set(call.id, p);
              writer.push({ ...where, kind: 'identified', at: p.timestamp, action: 'StartTransaction', badgeId: p.idTag, answer: null });
            }
            return;
          }
          case 'StopTransaction': {
            const p = parse(v16.StopTransaction, frame, PAYLOAD);
            if (p) {
              writer.push({
                ...where,
                kind: 'stopped16',
                at: p.timestamp,
                transactionId: String(p.transactionId),
                meterStopWh: p.meterStop,
                reason: p.reason ?? null,
                badgeId: p.idTag ?? null,
                samples: samples16(p.transactionData ?? []),
              });
            }
            return;
          }
          case 'MeterValues': {
            const p = parse(v16.MeterValues, frame, PAYLOAD);
            if (p) {
              writer.push({
                ...where,
                kind: 'meter',
                evseId: null,
                connectorId: p.connectorId,
                transactionId: p.transactionId === undefined ? null : String(p.transactionId),
                samples: samples16(p.meterValue),
              });
            }
            return;
          }
          case 'BootNotification': {
            const p = parse(v16.BootNotification, frame, PAYLOAD);
            if (p) {
              writer.push({
                ...where,
                kind: 'boot',
                at: new Date(),
                vendor: p.chargePointVendor,
                model: p.chargePointModel,
                serialNumber: p.chargePointSerialNumber ?? p.chargeBoxSerialNumber ?? null,
                firmwareVersion: p.firmwareVersion ?? null,
              });
            }
            return;
          }
          case 'StatusNotification': {
            const p = parse(v16.StatusNotification, frame, PAYLOAD);
            if (p) {
              writer.push({ ...where, kind: 'status', at: p.timestamp ?? new Date(), evseId: 0, connectorId: p.connectorId, status: p.status, errorCode: p.errorCode });
            }
            return;
          }
        }
        return;
      }
      switch (call.action) {
        case 'Authorize': {
          const p = parse(v201.Authorize, frame, PAYLOAD);
          if (p) writer.push({ ...where, kind: 'identified', at: new Date(), action: 'Authorize', badgeId: p.idToken.idToken, answer: answerTo(call.id) });
          return;
        }
        case 'TransactionEvent': {
          const p = parse(v201.TransactionEvent, frame, PAYLOAD);
          if (!p) return;
          if (p.idToken && p.eventType !== 'Ended') {
            writer.push({ ...where, kind: 'identified', at: p.timestamp, action: 'TransactionEvent', badgeId: p.idToken.idToken, answer: null });
          }
          writer.push({
            ...where,
            kind: 'event201',
            at: p.timestamp,
            eventType: p.eventType,
            transactionId: p.transactionInfo.transactionId,
            evseId: p.evse?.id ?? null,
            connectorId: p.evse?.connectorId ?? null,
            badgeId: p.idToken?.idToken ?? null,
            stoppedReason: p.transactionInfo.stoppedReason ?? null,
            samples: samples201(p.meterValue ?? []),
          });
          return;
        }
        case 'MeterValues': {
          const p = parse(v201.MeterValues, frame, PAYLOAD);
          if (p) writer.push({ ...where, kind: 'meter', evseId: p.evseId, connectorId: null, transactionId: null, samples: samples201(p.meterValue) });
          return;
        }
        case 'BootNotification': {
          const p = parse(v201.BootNotification, frame, PAYLOAD);
          if (p) {
            const cs = p.chargingStation;
            writer.push({ ...where, kind: 'boot', at: new Date(), vendor: cs.vendorName, model: cs.model, serialNumber: cs.serialNumber ?? null, firmwareVersion: cs.firmwareVersion ?? null });
          }
          return;
        }
        case 'StatusNotification': {
          const p = parse(v201.StatusNotification, frame, PAYLOAD);
          if (p) writer.push({ ...where, kind: 'status', at: p.timestamp, evseId: p.evseId, connectorId: p.connectorId, status: p.connectorStatus, errorCode: null });
          return;
        }
      }
    }

    /** The CPMS numbers a 1.6 transaction in its StartTransaction result, tied to the call by message id. */
    function fromCpms(envelope: Envelope, frame: Buffer) {
      if (envelope.kind === 'error') starting.delete(envelope.id);
      if (envelope.kind !== 'result') return;
      const start = starting.get(envelope.id);
      if (!start) return;
      starting.delete(envelope.id);
      const result = parse(v16.StartTransactionResult, frame, 2);
      if (!result) return;
      writer.push({
        ...where,
        kind: 'started16',
        at: start.timestamp,
        transactionId: String(result.transactionId),
        connectorId: start.connectorId,
        badgeId: start.idTag,
        meterStartWh: start.meterStart,
      });
    }

    return {
      answer(call, frame) {
        if (call.action !== 'Authorize') return undefined;
        if (getTenant(db, session.tenantId)?.authorizationMode !== 'broker') return undefined;
        const badge = version === '1.6' ? parse(v16.Authorize, frame, PAYLOAD)?.idTag : parse(v201.Authorize, frame, PAYLOAD)?.idToken.idToken;
        if (badge === undefined) return undefined; // not a valid Authorize: the CPMS answers it
        const driver = findDriverByBadge(db, session.tenantId, badge);
        const status = !driver ? 'Invalid' : driver.blocked ? 'Blocked' : 'Accepted';
        answered.set(call.id, status);
        const info = version === '1.6' ? { idTagInfo: { status } } : { idTokenInfo: { status } };
        return JSON.stringify([3, call.id, info]);
      },
      observe(from, envelope, frame) {
        try {
          if (from === 'station' && envelope.kind === 'call') fromStation(envelope, frame);
          else if (from === 'cpms') fromCpms(envelope, frame);
        } catch (error) {
          log.error({ err: error, ...where }, 'observing a frame failed');
        }
      },
    };
  };
}

