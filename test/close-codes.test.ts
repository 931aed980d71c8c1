import * as ws from 'ws';
import { describe, expect, it } from 'vitest';
import { closeCodeOfError, CloseReason, isSendable } from '../broker/close-codes.ts';

interface ReceiverOptions {
  isServer?: boolean;
  maxPayload?: number;
  maxFragments?: number;
}
/** ws's frame parser: exported by the package, not declared by @types/ws. */
const Receiver = (ws as unknown as { Receiver: new (options: ReceiverOptions) => NodeJS.WritableStream & NodeJS.EventEmitter }).Receiver;

/** The error ws's own receiver emits for `frames`, as a link would see it. */
function receiverError(frames: Buffer, options: ReceiverOptions = {}): Promise<Error & { code?: string }> {
  return new Promise((resolve) => {
    const receiver = new Receiver({ isServer: false, ...options });
    receiver.on('error', resolve);
    receiver.write(frames);
  });
}

/** An unmasked frame header with `opcode`, `fin` and a payload. */
const frame = (opcode: number, payload: Buffer, fin = true) => Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, payload.length]), payload]);

describe('the close code ws sent on a protocol error', () => {
  it('is 1009 for a message over maxPayload', async () => {
    const error = await receiverError(frame(1, Buffer.from('x'.repeat(20))), { maxPayload: 10 });
    expect(error.code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(closeCodeOfError(error)).toBe(1009);
  });

  it('is 1009 for a frame length beyond 2^53 - 1, where a copy of ws’s table said 1002', async () => {
    const error = await receiverError(Buffer.from([0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    expect(error.code).toBe('WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH');
    expect(closeCodeOfError(error)).toBe(1009);
  });

  it('is 1008 for too many message fragments, where a copy of ws’s table said 1002', async () => {
    const parts = Buffer.concat([frame(1, Buffer.from('a'), false), frame(0, Buffer.from('b'), false), frame(0, Buffer.from('c'), false)]);
    const error = await receiverError(parts, { maxFragments: 2 });
    expect(error.code).toBe('WS_ERR_TOO_MANY_BUFFERED_PARTS');
    expect(closeCodeOfError(error)).toBe(1008);
  });

  it('is 1007 for invalid UTF-8 and 1002 for a bad opcode', async () => {
    expect(closeCodeOfError(await receiverError(frame(1, Buffer.from([0xc3, 0x28]))))).toBe(1007);
    expect(closeCodeOfError(await receiverError(frame(3, Buffer.alloc(0))))).toBe(1002);
  });

  it('is none for an error that is not a protocol error', () => {
    expect(closeCodeOfError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBeUndefined();
  });
});

describe('close reasons', () => {
  it('carry a code that may be sent and a reason within the 123 bytes a close frame allows', () => {
    for (const { code, reason } of Object.values(CloseReason)) {
      expect(isSendable(code)).toBe(true);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    }
    expect(CloseReason.TENANT_SETTINGS_CHANGED).toEqual({ code: 1012, reason: 'Tenant settings changed' });
  });
});
