import { Gauge, type Registry } from 'prom-client';
import { readEnvelope, stationKey as keyOf, type Envelope, type Local, type PendingCall, type RouteHooks } from '../../broker/index.ts';
import { maskFrame } from './mask.ts';
import { Ring } from './ring.ts';

/**
 * The live message inspector: the last frames of each station, both directions, in memory only.
 *
 * Always on, at a tiny cost per frame: it keeps a copy of the frame's bytes as a one-byte string (a plain copy, one
 * byte a byte, so that the bound below is the memory really held: about ten times cheaper than a Buffer of its own),
 * the envelope the broker already read, and a few numbers. The text is decoded as UTF-8, and badges masked, only
 * when someone reads a frame.
 * Recording only while someone watches would be cheaper still, but an operator opens the inspector after something
 * went wrong, and then the frames that led to it are already there.
 */

export type Party = 'station' | 'cpms' | 'broker';

/** One frame as the inspector shows it. */
export interface InspectedFrame {
  /** Increases with every frame the inspector records (all stations). */
  seq: number;
  at: string;
  /**
   * Who wrote the frame: `broker` for answers the broker gave itself (Authorize in broker authorization mode, the CPMS's
   * charging commands under the tenant's policy).
   */
  origin: Party;
  /** Where it went: `broker` for a call (a station's, or the CPMS's) the broker answered itself. */
  to: Party;
  type: Envelope['kind'];
  id: string | null;
  /** The call's action; for an answer, the action of the call it answers (when the broker saw that call). */
  action: string | null;
  errorCode: string | null;
  /** Why the envelope could not be read (type `invalid`). */
  problem: string | null;
  /** Bytes on the wire. */
  size: number;
  /** The frame's text, cut at the inspector's limit (`truncated`), secrets and (unless revealed) badges masked. */
  text: string;
  truncated: boolean;
  masked: boolean;
}

/** What a stream sends: a frame, or how many frames a slow reader missed at that point. */
export type InspectorEvent = { kind: 'frame'; frame: InspectedFrame } | { kind: 'skipped'; count: number };

export interface InspectorLimits {
  /** Frames kept per station. */
  framesPerStation: number;
  /** Memory for all stations: frames' bytes plus FRAME_OVERHEAD_BYTES each and STATION_OVERHEAD_BYTES per station. */
  maxBytes: number;
  /** Longer frames are kept cut to this many bytes. */
  maxFrameBytes: number;
  /** Streams open at once, over all users. */
  maxStreams: number;
  /** Events waiting for one slow stream; beyond it, frames are skipped (and counted). */
  streamQueue: number;
}

export const DEFAULT_LIMITS: InspectorLimits = {
  framesPerStation: 200,
  maxBytes: 64 * 1024 * 1024,
  maxFrameBytes: 64 * 1024,
  maxStreams: 20,
  streamQueue: 500,
};

/** What a held frame costs besides its bytes: the record, the envelope and its strings, the string's header. */
export const FRAME_OVERHEAD_BYTES = 256;
/** What a station's log costs besides its frames. */
export const STATION_OVERHEAD_BYTES = 2048;

interface Held {
  seq: number;
  at: number;
  from: 'station' | 'cpms';
  local: boolean;
  /** A CPMS call the broker answered itself (smart charging policy), or that answer. */
  forCpms: boolean;
  /**
   * The envelope of a frame kept cut, which cannot be read again from what is kept; undefined for a frame kept whole
   * (read again when shown: most frames are never shown, and a station's log should cost little).
   */
  envelope: Envelope | undefined;
  action: string | undefined;
  /** The bytes kept (at most maxFrameBytes), one character a byte (latin1). */
  bytes: string;
  size: number;
  cost: number;
}

/** One station's frames, and its place in the list of stations by last activity. */
interface StationLog {
  key: string;
  ring: Ring<Held>;
  newer: StationLog | undefined;
  older: StationLog | undefined;
}

interface Watcher {
  /** Frames not sent yet; a number marks how many were skipped at that point. */
  queue: (Held | number)[];
  reveal: boolean;
  wake: (() => void) | undefined;
}

export type Inspector = ReturnType<typeof createInspector>;

export function createInspector(overrides: Partial<InspectorLimits> = {}) {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  const logs = new Map<string, StationLog>();
  /** Most and least recently active stations. */
  let newest: StationLog | undefined;
  let oldest: StationLog | undefined;
  let bytes = 0;
  let frames = 0;
  let seq = 0;
  const watchers = new Map<string, Set<Watcher>>();
  let streams = 0;

  function logOf(key: string): StationLog {
    let log = logs.get(key);
    if (!log) {
      log = { key, ring: new Ring(limits.framesPerStation), newer: undefined, older: undefined };
      logs.set(key, log);
      bytes += STATION_OVERHEAD_BYTES;
    }
    return log;
  }

  function unlink(log: StationLog) {
    if (log.newer) log.newer.older = log.older;
    else newest = log.older;
    if (log.older) log.older.newer = log.newer;
    else oldest = log.newer;
    log.newer = log.older = undefined;
  }

  function touch(log: StationLog) {
    if (newest === log) return;
    if (log.newer || log.older || oldest === log) unlink(log);
    log.older = newest;
    if (newest) newest.newer = log;
    newest = log;
    oldest ??= log;
  }

  function remove(log: StationLog) {
    unlink(log);
    logs.delete(log.key);
    bytes -= STATION_OVERHEAD_BYTES + log.ring.cost;
    frames -= log.ring.size;
  }

  /** Over the total: the oldest frames of the least recently active stations go first. */
  function evict() {
    while (bytes > limits.maxBytes && oldest && !(oldest === newest && oldest.ring.size <= 1)) {
      const log = oldest;
      const gone = log.ring.shift();
      if (gone) {
        bytes -= gone.cost;
        frames--;
      }
      if (log.ring.size === 0) remove(log);
    }
  }

  function record(log: StationLog, from: 'station' | 'cpms', envelope: Envelope, frame: Buffer, call: PendingCall | undefined, local: Local | undefined) {
    const size = frame.length;
    const kept = frame.toString('latin1', 0, Math.min(size, limits.maxFrameBytes));
    const whole = kept.length === size;
    const held: Held = {
      seq: ++seq,
      at: Date.now(),
      from,
      local: local !== undefined,
      // A CPMS call the broker answered itself, observed from the CPMS's side, and its answer, from the station's.
      forCpms: local === 'answered' && (from === 'cpms') === (envelope.kind === 'call'),
      envelope: whole ? undefined : envelope,
      action: call?.action ?? (envelope.kind === 'call' || envelope.kind === 'send' ? envelope.action : undefined),
      bytes: kept,
      size,
      cost: kept.length + FRAME_OVERHEAD_BYTES,
    };
    touch(log);
    const dropped = log.ring.push(held);
    if (dropped) {
      bytes -= dropped.cost;
      frames--;
    }
    bytes += held.cost;
    frames++;
    if (bytes > limits.maxBytes) evict();
    if (streams > 0) notify(log.key, held);
  }

  function notify(key: string, held: Held) {
    const watching = watchers.get(key);
    if (!watching) return;
    for (const watcher of watching) {
      const { queue } = watcher;
      if (queue.length < limits.streamQueue) queue.push(held);
      else if (typeof queue.at(-1) === 'number') (queue[queue.length - 1] as number)++;
      else queue.push(1);
      watcher.wake?.();
    }
  }

  function render(held: Held, reveal: boolean): InspectedFrame {
    const bytes = Buffer.from(held.bytes, 'latin1');
    const envelope = held.envelope ?? readEnvelope(bytes);
    const { text, masked } = maskFrame(bytes.toString('utf8'), { revealBadges: reveal });
    return {
      seq: held.seq,
      at: new Date(held.at).toISOString(),
      origin: held.forCpms ? (held.from === 'cpms' ? 'cpms' : 'broker') : held.from === 'station' ? 'station' : held.local ? 'broker' : 'cpms',
      to: held.forCpms ? (held.from === 'cpms' ? 'broker' : 'cpms') : held.from === 'cpms' ? 'station' : held.local ? 'broker' : 'cpms',
      type: envelope.kind,
      id: envelope.kind === 'invalid' ? null : envelope.id,
      action: held.action ?? null,
      errorCode: envelope.kind === 'error' ? envelope.code : null,
      problem: envelope.kind === 'invalid' ? envelope.reason : null,
      size: held.size,
      text,
      truncated: held.size > held.bytes.length,
      masked,
    };
  }

  return {
    limits,

    /**
     * Route hooks that record every frame. The cost per frame: a copy of its bytes, a record, a ring slot, a few
     * additions; nothing is decoded here.
     */
    hooks: {
      observe(session, from, envelope, frame, call, local?: Local) {
        try {
          record(logOf(session.key), from, envelope, frame, call, local);
        } catch {
          // never in the way of the traffic
        }
      },
    } satisfies RouteHooks,

    /** A station's frames held now, oldest first; `after`: only those with a larger `seq`. */
    frames(tenantId: number, identity: string, options: { reveal?: boolean; after?: number } = {}): InspectedFrame[] {
      const held = logs.get(keyOf(tenantId, identity))?.ring.toArray() ?? [];
      return held.filter((h) => h.seq > (options.after ?? 0)).map((h) => render(h, options.reveal ?? false));
    },

    /**
     * New frames of a station as they come, until `signal` aborts. Throws TooManyStreams when `maxStreams` are open.
     * With `after`, the frames held with a larger `seq` come first (a reconnecting stream misses nothing still held).
     */
    async *stream(
      tenantId: number,
      identity: string,
      options: { signal?: AbortSignal; reveal?: boolean; after?: number } = {},
    ): AsyncGenerator<InspectorEvent> {
      if (streams >= limits.maxStreams) throw new TooManyStreams(limits.maxStreams);
      const key = keyOf(tenantId, identity);
      const { signal, after } = options;
      const watcher: Watcher = { queue: [], reveal: options.reveal ?? false, wake: undefined };
      if (after !== undefined) watcher.queue.push(...(logs.get(key)?.ring.toArray().filter((h) => h.seq > after) ?? []));
      let watching = watchers.get(key);
      if (!watching) watchers.set(key, (watching = new Set()));
      watching.add(watcher);
      streams++;
      const onAbort = () => watcher.wake?.();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        while (!signal?.aborted) {
          const next = watcher.queue.shift();
          if (next === undefined) {
            await new Promise<void>((resolve) => (watcher.wake = resolve));
            watcher.wake = undefined;
          } else if (typeof next === 'number') {
            yield { kind: 'skipped', count: next };
          } else {
            yield { kind: 'frame', frame: render(next, watcher.reveal) };
          }
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
        watching.delete(watcher);
        if (watching.size === 0) watchers.delete(key);
        streams--;
      }
    },

    /** What the inspector holds now, for /metrics and the tests. */
    stats: () => ({ frames, bytes, stations: logs.size, streams }),

    /** Gauges of frames and bytes held and streams open, in the broker's registry. */
    register(registry: Registry) {
      const gauge = (name: string, help: string, value: () => number) =>
        new Gauge({ name, help, registers: [registry], collect() { this.set(value()); } });
      gauge('ocpp_broker_inspector_frames', 'Frames the message inspector holds (all stations)', () => frames);
      gauge('ocpp_broker_inspector_bytes', 'Memory the message inspector counts for what it holds (bytes)', () => bytes);
      gauge('ocpp_broker_inspector_streams', 'Message inspector streams open', () => streams);
    },
  };
}

/** Refused: as many streams as the inspector allows are open. */
export class TooManyStreams extends Error {
  constructor(limit: number) {
    super(`At most ${limit} inspector streams may be open at once; close one first`);
  }
}
