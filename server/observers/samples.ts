import type { SampleRow } from '../../db/observations.ts';
import { ENERGY_REGISTER } from '../../contract/index.ts';
import type { MeterValue16, MeterValue201 } from './payloads.ts';

/** One measurement, as stored: energy in Wh, power in W, current in A, voltage in V. */
export type Sample = SampleRow;

/** What OCPP assumes when a sampled value does not say (1.6 §7.31, 2.0.1 SampledValueType). */
const DEFAULT_MEASURAND = ENERGY_REGISTER;

/** kWh → Wh and kW → W; the base units as they are. Other units are kept as sent. */
function normalize(value: number, unit: string | null): { value: number; unit: string | null } {
  if (unit === 'kWh') return { value: value * 1000, unit: 'Wh' };
  if (unit === 'kW') return { value: value * 1000, unit: 'W' };
  if (unit === 'kvarh') return { value: value * 1000, unit: 'varh' };
  if (unit === 'kvar') return { value: value * 1000, unit: 'var' };
  return { value, unit };
}

/** The default unit of a measurand when the station gives none. */
function defaultUnit(measurand: string): string | null {
  if (measurand.startsWith('Energy.Active')) return 'Wh';
  if (measurand.startsWith('Power.Active')) return 'W';
  if (measurand.startsWith('Current')) return 'A';
  if (measurand === 'Voltage') return 'V';
  return null;
}

/** OCPP 1.6: values are strings; signed data (format SignedData) is not a number and is skipped. */
export function samples16(meterValues: MeterValue16[]): Sample[] {
  return meterValues.flatMap((mv) =>
    mv.sampledValue.flatMap((sv) => {
      if (sv.format === 'SignedData') return [];
      const raw = Number(sv.value);
      if (!Number.isFinite(raw) || sv.value.trim() === '') return [];
      const measurand = sv.measurand ?? DEFAULT_MEASURAND;
      const { value, unit } = normalize(raw, sv.unit ?? defaultUnit(measurand));
      return [{ at: mv.timestamp, measurand, phase: sv.phase ?? null, location: sv.location ?? null, context: sv.context ?? null, unit, value }];
    }),
  );
}

/** OCPP 2.0.1: values are numbers with an optional power-of-ten multiplier. */
export function samples201(meterValues: MeterValue201[]): Sample[] {
  return meterValues.flatMap((mv) =>
    mv.sampledValue.map((sv) => {
      const measurand = sv.measurand ?? DEFAULT_MEASURAND;
      const multiplied = sv.value * 10 ** (sv.unitOfMeasure?.multiplier ?? 0);
      const { value, unit } = normalize(multiplied, sv.unitOfMeasure?.unit ?? defaultUnit(measurand));
      return { at: mv.timestamp, measurand, phase: sv.phase ?? null, location: sv.location ?? null, context: sv.context ?? null, unit, value };
    }),
  );
}
