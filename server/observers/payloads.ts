import { z } from 'zod';

/**
 * The payloads the broker reads, per OCPP version (../shared/OCPP-NOTES.md, "Where the data is"), in the writer's
 * thread (read.ts). Lenient: unknown fields are ignored, and a payload that does not fit is not recorded but counted
 * as skipped (it was forwarded all the same; the CPMS judges it).
 */
const int = z.number().int();
const timestamp = z.iso.datetime({ offset: true }).transform((t) => new Date(t));

const sampled16 = z.object({
  value: z.string(),
  context: z.string().optional(),
  format: z.string().optional(),
  measurand: z.string().optional(),
  phase: z.string().optional(),
  location: z.string().optional(),
  unit: z.string().optional(),
});
const meterValue16 = z.object({ timestamp, sampledValue: z.array(sampled16) });

export const v16 = {
  Authorize: z.object({ idTag: z.string() }),
  StartTransaction: z.object({ connectorId: int, idTag: z.string(), meterStart: int, timestamp }),
  StartTransactionResult: z.object({ transactionId: int, idTagInfo: z.object({ status: z.string() }).optional() }),
  StopTransaction: z.object({
    transactionId: int,
    meterStop: int,
    timestamp,
    idTag: z.string().optional(),
    reason: z.string().optional(),
    transactionData: z.array(meterValue16).optional(),
  }),
  MeterValues: z.object({ connectorId: int, transactionId: int.optional(), meterValue: z.array(meterValue16) }),
  BootNotification: z.object({
    chargePointVendor: z.string(),
    chargePointModel: z.string(),
    chargePointSerialNumber: z.string().optional(),
    chargeBoxSerialNumber: z.string().optional(),
    firmwareVersion: z.string().optional(),
  }),
  StatusNotification: z.object({ connectorId: int, errorCode: z.string(), status: z.string(), timestamp: timestamp.optional() }),
};

const sampled201 = z.object({
  value: z.number(),
  context: z.string().optional(),
  measurand: z.string().optional(),
  phase: z.string().optional(),
  location: z.string().optional(),
  unitOfMeasure: z.object({ unit: z.string().optional(), multiplier: int.optional() }).optional(),
});
const meterValue201 = z.object({ timestamp, sampledValue: z.array(sampled201) });
const idToken = z.object({ idToken: z.string(), type: z.string() });

export const v201 = {
  Authorize: z.object({ idToken }),
  TransactionEvent: z.object({
    eventType: z.enum(['Started', 'Updated', 'Ended']),
    timestamp,
    triggerReason: z.string(),
    seqNo: int,
    offline: z.boolean().optional(),
    transactionInfo: z.object({ transactionId: z.string(), chargingState: z.string().optional(), stoppedReason: z.string().optional() }),
    idToken: idToken.optional(),
    evse: z.object({ id: int, connectorId: int.optional() }).optional(),
    meterValue: z.array(meterValue201).optional(),
  }),
  MeterValues: z.object({ evseId: int, meterValue: z.array(meterValue201) }),
  BootNotification: z.object({
    chargingStation: z.object({
      model: z.string(),
      vendorName: z.string(),
      serialNumber: z.string().optional(),
      firmwareVersion: z.string().optional(),
    }),
  }),
  StatusNotification: z.object({ timestamp, connectorStatus: z.string(), evseId: int, connectorId: int }),
};

export type MeterValue16 = z.infer<typeof meterValue16>;
export type MeterValue201 = z.infer<typeof meterValue201>;
