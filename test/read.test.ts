import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { read, type Captured } from '../server/observers/read.ts';

const ACTIONS = ['Authorize', 'StartTransaction', 'StopTransaction', 'MeterValues', 'BootNotification', 'StatusNotification', 'TransactionEvent', 'Heartbeat'];
const captured = (action: string, call: string, extra: Partial<Captured> = {}): Captured => ({
  tenantId: 1,
  identity: 'CP',
  version: '1.6',
  action,
  at: Date.UTC(2026, 10, 24),
  call,
  ...extra,
});

describe('reading a captured frame', () => {
  it('never throws, whatever the frame: it records something, nothing, or says why it skipped it', () => {
    const json = fc.jsonValue().map((v) => JSON.stringify(v));
    const frames = fc.oneof(fc.string(), json, json.map((p) => `[2,"id","X",${p}]`));
    const versions = fc.constantFrom('1.6' as const, '2.0.1' as const);
    fc.assert(
      fc.property(fc.constantFrom(...ACTIONS), versions, frames, fc.option(frames, { nil: undefined }), (action, version, call, result) => {
        const reading = read(captured(action, call, { version, result }));
        if ('skipped' in reading) expect(['invalid_json', 'schema_mismatch']).toContain(reading.skipped);
        else expect(Array.isArray(reading.observations)).toBe(true);
      }),
    );
  });

  it('keeps every numeric 1.6 sampled value, in Wh, W, A and V, and skips signed data', () => {
    const sampled = fc.record(
      {
        value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }).map(String), fc.constantFrom('', ' ', 'abc')),
        unit: fc.constantFrom('Wh', 'kWh', 'W', 'kW', 'A', 'V'),
        format: fc.constantFrom('Raw', 'SignedData'),
      },
      { requiredKeys: ['value'] },
    );
    fc.assert(
      fc.property(fc.array(sampled, { maxLength: 20 }), (values) => {
        const payload = { connectorId: 1, meterValue: [{ timestamp: '2026-11-24T10:00:00Z', sampledValue: values }] };
        const reading = read(captured('MeterValues', JSON.stringify([2, 'id', 'MeterValues', payload])));
        if (!('observations' in reading) || reading.observations[0]?.kind !== 'meter') throw new Error('not read');
        const kept = values.filter((v) => v.format !== 'SignedData' && v.value.trim() !== '' && Number.isFinite(Number(v.value)));
        const samples = reading.observations[0].samples;
        expect(samples.map((s) => s.value)).toEqual(kept.map((v) => Number(v.value) * (v.unit?.startsWith('k') ? 1000 : 1)));
        expect(samples.every((s) => s.unit === null || ['Wh', 'W', 'A', 'V'].includes(s.unit))).toBe(true);
      }),
    );
  });

  it('reads a 1.6 StartTransaction twice: the badge from the call, the transaction from the CPMS\'s answer', () => {
    const call = JSON.stringify([2, 'id', 'StartTransaction', { connectorId: 1, idTag: 'B1', meterStart: 10, timestamp: '2026-11-24T10:00:00Z' }]);
    expect(read(captured('StartTransaction', call))).toMatchObject({ observations: [{ kind: 'identified', badgeId: 'B1' }] });
    const result = JSON.stringify([3, 'id', { transactionId: 7, idTagInfo: { status: 'Accepted' } }]);
    expect(read(captured('StartTransaction', call, { result }))).toMatchObject({ observations: [{ kind: 'started16', transactionId: '7', meterStartWh: 10 }] });
    expect(read(captured('StartTransaction', call, { result: '[3,"id",{}]' }))).toEqual({ skipped: 'schema_mismatch' });
  });
});
