import { describe, expect, it } from 'vitest';
import { CallsInFlight } from '../broker/calls.ts';

describe('the calls in flight', () => {
  it('hand back, with the answer, the context a hook attached to the call', () => {
    const calls = new CallsInFlight();
    const call = calls.start('42', 'StartTransaction', 1000);
    call.context = { awaiting: 'the call frame' };
    expect(calls.finish('42')).toEqual({ action: 'StartTransaction', startedAt: 1000, context: { awaiting: 'the call frame' } });
    expect(calls.finish('42')).toBeUndefined();
  });

  it('forget the oldest call past their bound, and calls older than the sweep, context and all', () => {
    const calls = new CallsInFlight(2);
    for (const [id, at] of [['a', 1], ['b', 2], ['c', 3]] as const) calls.start(id, 'Heartbeat', at).context = id;
    expect(calls.size).toBe(2);
    expect(calls.finish('a')).toBeUndefined();
    calls.sweep(3);
    expect(calls.finish('b')).toBeUndefined();
    expect(calls.finish('c')?.context).toBe('c');
  });
});
