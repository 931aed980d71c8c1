import { describe, expect, it } from 'vitest';
import { CallsInFlight } from '../broker/calls.ts';
import { isSendable, partnerCloseCode } from '../broker/close-codes.ts';
import { readEnvelope } from '../broker/frame.ts';
import { identityProblem } from '../contract/index.ts';
import { parseProtocols } from '../broker/upgrade.ts';
import { heartbeatInterval } from '../broker/route.ts';

const read = (text: string) => readEnvelope(Buffer.from(text, 'utf8'));

describe('readEnvelope', () => {
  it('reads a CALL, a CALLRESULT and a CALLERROR (OCPP-J §4)', () => {
    expect(read('[2,"19223201","BootNotification",{"chargePointVendor":"V"}]')).toEqual({
      kind: 'call',
      id: '19223201',
      action: 'BootNotification',
    });
    expect(read('[3,"19223201",{"status":"Accepted"}]')).toEqual({ kind: 'result', id: '19223201' });
    expect(read('[4,"162376037","NotSupported","SetDisplayMessageRequest not implemented",{}]')).toEqual({
      kind: 'error',
      id: '162376037',
      code: 'NotSupported',
    });
  });

  it('reads the OCPP 2.1 CALLRESULTERROR as an answer and SEND as a call without answer', () => {
    expect(read('[5,"a","InternalError","",{}]')).toEqual({ kind: 'error', id: 'a', code: 'InternalError' });
    expect(read('[6,"b","NotifyPeriodicEventStream",{}]')).toEqual({ kind: 'send', id: 'b', action: 'NotifyPeriodicEventStream' });
  });

  it('tolerates whitespace between the tokens', () => {
    expect(read(' \r\n[ 2 ,\t"id" ,\n"Heartbeat" , {} ] ')).toEqual({ kind: 'call', id: 'id', action: 'Heartbeat' });
  });

  it('decodes escapes and multi-byte characters in ids', () => {
    expect(read('[3,"\\u00fc\\"x",{}]')).toEqual({ kind: 'result', id: 'ü"x' });
    expect(read('[3,"ü⚡😀",{}]')).toEqual({ kind: 'result', id: 'ü⚡😀' });
    expect(read('[3,"a\\\\",{}]')).toEqual({ kind: 'result', id: 'a\\' });
  });

  it('does not read past the envelope: a broken payload is the peers\' business', () => {
    expect(read('[2,"1","Heartbeat",{this is not json')).toEqual({ kind: 'call', id: '1', action: 'Heartbeat' });
  });

  it.each([
    ['', 'not a JSON array'],
    ['{"a":1}', 'not a JSON array'],
    ['[]', 'message type is not a number'],
    ['["2","1","Heartbeat",{}]', 'message type is not a number'],
    ['[22,"1","Heartbeat",{}]', 'message type is not a single digit followed by a message id'],
    ['[2.0,"1","Heartbeat",{}]', 'message type is not a single digit followed by a message id'],
    ['[2,1,"Heartbeat",{}]', 'message id is not a string'],
    ['[2,"unterminated', 'message id is not a string'],
    ['[2,"a\nb","Heartbeat",{}]', 'message id is not a string'],
    ['[2,"1"]', 'frame ends after the message id'],
    ['[2,"1",7,{}]', 'action is not a string'],
    ['[4,"1",7]', 'error code is not a string'],
    ['[9,"1"]', 'unknown message type 9'],
  ])('reports %j as invalid (%s)', (text, reason) => {
    expect(read(text)).toEqual({ kind: 'invalid', reason });
  });
});

describe('CallsInFlight', () => {
  it('ties an answer to its call by id, once', () => {
    const calls = new CallsInFlight();
    calls.start('1', 'Heartbeat', 100);
    expect(calls.finish('1')).toEqual({ action: 'Heartbeat', startedAt: 100 });
    expect(calls.finish('1')).toBeUndefined();
  });

  it('forgets the oldest calls beyond its bound and unanswered calls by age', () => {
    const calls = new CallsInFlight(2);
    calls.start('a', 'A', 1);
    calls.start('b', 'B', 2);
    calls.start('c', 'C', 3);
    expect(calls.size).toBe(2);
    expect(calls.finish('a')).toBeUndefined();
    calls.sweep(3);
    expect(calls.size).toBe(1);
    expect(calls.finish('c')).toEqual({ action: 'C', startedAt: 3 });
  });

  it('tracks calls again after every call was answered or swept', () => {
    const calls = new CallsInFlight();
    calls.start('a', 'A', 1);
    calls.finish('a');
    expect(calls.size).toBe(0);
    expect(calls.newestStartedAt()).toBeUndefined();
    calls.sweep(10);
    calls.start('b', 'B', 5);
    calls.start('c', 'C', 6);
    calls.sweep(6);
    expect(calls.newestStartedAt()).toBe(6);
    calls.sweep(7);
    expect(calls.size).toBe(0);
    calls.start('d', 'D', 8);
    expect(calls.finish('d')).toEqual({ action: 'D', startedAt: 8 });
  });
});

describe('close codes', () => {
  it('passes on a code that may be sent and replaces one that may not', () => {
    expect(partnerCloseCode(1000, 'cpms')).toBe(1000);
    expect(partnerCloseCode(4001, 'station')).toBe(4001);
    expect(partnerCloseCode(1006, 'cpms')).toBe(1011);
    expect(partnerCloseCode(1006, 'station')).toBe(1001);
    expect(partnerCloseCode(1005, 'station')).toBe(1001);
    expect(partnerCloseCode(1015, 'cpms')).toBe(1011);
  });

  it('knows which codes a close frame may carry (RFC 6455 §7.4)', () => {
    expect([999, 1004, 1005, 1006, 1015, 1016, 2999, 5000].filter(isSendable)).toEqual([]);
    expect([1000, 1001, 1003, 1011, 1012, 3000, 4999].every(isSendable)).toBe(true);
  });
});

describe('upgrade request checks', () => {
  it('accepts identities of up to 48 characters without ":"', () => {
    expect(identityProblem('RDAM 123')).toBeUndefined();
    expect(identityProblem('😀'.repeat(48))).toBeUndefined();
    expect(identityProblem('x'.repeat(49))).toMatch(/48/);
    expect(identityProblem('a:b')).toMatch(/":"/);
    expect(identityProblem('')).toMatch(/empty/);
    expect(identityProblem('a\u0000b')).toMatch(/control/);
  });

  it('reads Sec-WebSocket-Protocol as an ordered list and refuses malformed ones', () => {
    expect(parseProtocols(undefined)).toEqual([]);
    expect(parseProtocols('ocpp2.0.1, ocpp1.6')).toEqual(['ocpp2.0.1', 'ocpp1.6']);
    expect(parseProtocols('ocpp1.6,,ocpp2.0.1')).toBeUndefined();
    expect(parseProtocols('ocpp1.6, ocpp1.6')).toBeUndefined();
    expect(parseProtocols('ocpp 1.6')).toBeUndefined();
  });
});

describe('the Heartbeat interval of a BootNotification answer', () => {
  it('is read from 1.6 and 2.0.1 answers alike, and is null when missing, not a positive integer, or not JSON', () => {
    expect(heartbeatInterval(Buffer.from('[3,"1",{"status":"Accepted","currentTime":"2026-12-03T00:00:00Z","interval":300}]'))).toBe(300);
    expect(heartbeatInterval(Buffer.from('[3,"1",{"status":"Accepted","interval":60,"currentTime":"x"}]'))).toBe(60);
    expect(heartbeatInterval(Buffer.from('[3,"1",{"status":"Accepted"}]'))).toBeNull();
    expect(heartbeatInterval(Buffer.from('[3,"1",{"interval":0}]'))).toBeNull();
    expect(heartbeatInterval(Buffer.from('[3,"1",{"interval":"300"}]'))).toBeNull();
    expect(heartbeatInterval(Buffer.from('[3,"1",'))).toBeNull();
  });
});
