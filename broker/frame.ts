/**
 * The OCPP-J envelope (OCPP-J §4): message type, message id and, for calls, the action.
 *
 * The forwarding path reads only this prefix of each frame, straight from the received bytes,
 * so its cost does not grow with the payload. The payload itself is never touched here:
 * frames are forwarded as received, byte for byte, valid or not.
 */
export type Envelope =
  | { kind: 'call'; id: string; action: string }
  | { kind: 'result'; id: string }
  /** CALLERROR (4), and CALLRESULTERROR (5) of OCPP 2.1: both answer a call. */
  | { kind: 'error'; id: string; code: string }
  /** SEND (6) of OCPP 2.1: a call that expects no answer. */
  | { kind: 'send'; id: string; action: string }
  | { kind: 'invalid'; reason: string };

const CALL = 2;
const CALLRESULT = 3;
const CALLERROR = 4;
const CALLRESULTERROR = 5;
const SEND = 6;

const SPACE = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d;
const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, OPEN_BRACKET = 0x5b, ZERO = 0x30, NINE = 0x39;

/** Reads the envelope of one text frame. Never throws. */
export function readEnvelope(frame: Buffer): Envelope {
  let at = skipSpace(frame, 0);
  if (frame[at] !== OPEN_BRACKET) return invalid('not a JSON array');
  at = skipSpace(frame, at + 1);

  const digit = frame[at];
  if (digit === undefined || digit < ZERO || digit > NINE) return invalid('message type is not a number');
  const type = digit - ZERO;
  at = skipSpace(frame, at + 1);
  if (frame[at] !== COMMA) return invalid('message type is not a single digit followed by a message id');

  const id = readString(frame, skipSpace(frame, at + 1));
  if (!id) return invalid('message id is not a string');
  if (type === CALLRESULT) return { kind: 'result', id: id.value };
  if (type !== CALL && type !== CALLERROR && type !== CALLRESULTERROR && type !== SEND) {
    return invalid(`unknown message type ${type}`);
  }

  at = skipSpace(frame, id.end);
  if (frame[at] !== COMMA) return invalid('frame ends after the message id');
  const name = readString(frame, skipSpace(frame, at + 1));
  if (!name) return invalid(type === CALL || type === SEND ? 'action is not a string' : 'error code is not a string');

  if (type === CALL) return { kind: 'call', id: id.value, action: name.value };
  if (type === SEND) return { kind: 'send', id: id.value, action: name.value };
  return { kind: 'error', id: id.value, code: name.value };
}

function invalid(reason: string): Envelope {
  return { kind: 'invalid', reason };
}

function skipSpace(frame: Buffer, at: number): number {
  while (at < frame.length) {
    const byte = frame[at];
    if (byte !== SPACE && byte !== TAB && byte !== LF && byte !== CR) break;
    at++;
  }
  return at;
}

/** A JSON string starting at `at`: its decoded value and the index just past its closing quote. */
function readString(frame: Buffer, at: number): { value: string; end: number } | undefined {
  if (frame[at] !== QUOTE) return undefined;
  let escaped = false;
  for (let i = at + 1; i < frame.length; i++) {
    const byte = frame[i]!;
    if (byte === BACKSLASH) {
      escaped = true;
      i++;
    } else if (byte === QUOTE) {
      if (!escaped) return { value: frame.toString('utf8', at + 1, i), end: i + 1 };
      try {
        return { value: JSON.parse(frame.toString('utf8', at, i + 1)) as string, end: i + 1 };
      } catch {
        return undefined;
      }
    } else if (byte < SPACE) {
      return undefined;
    }
  }
  return undefined;
}
