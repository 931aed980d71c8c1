/** The measurand of the energy register, and what OCPP assumes when a sampled value names none (1.6 §7.31, 2.0.1 SampledValueType). */
export const ENERGY_REGISTER = 'Energy.Active.Import.Register';

/**
 * Whether a stored sample is a reading of the energy register (in Wh, all phases together): what transactions take
 * their meter start, stop and energy so far from.
 */
export function isEnergyRegister(sample: { measurand: string; unit: string | null; phase: string | null }): boolean {
  return sample.measurand === ENERGY_REGISTER && sample.unit === 'Wh' && sample.phase === null;
}
