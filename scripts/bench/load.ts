/**
 * The bench's stations: raw `ws` clients speaking just enough OCPP 1.6 (ocpp-rpc is too slow to generate load).
 * Each sends a BootNotification once open, then MeterValues of 4 sampled values when told to; never more than one
 * call outstanding (OCPP-J §4.1.1). Stations refused with 503 come back after `Retry-After`, others after a second.
 */
import WebSocket from 'ws';
import { serve } from './ipc.ts';

interface Station {
  identity: string;
  ws: WebSocket | undefined;
  /** The id of the call awaiting its answer. */
  waiting: string | undefined;
  booted: boolean;
  /** Reconnect after a drop (soak), instead of staying away. */
  reconnect: boolean;
}

let url = '';
let stations: Station[] = [];
let seq = 0;
let answered = 0;
let retries = 0;
let bootWaiters: (() => void)[] = [];
let bootedCount = 0;
/** Closed loop: send the next call as soon as the last is answered. */
let saturating = false;
/**
 * Each MeterValues is stamped one millisecond after the one before (of any station), from the start: a station never
 * sends two readings of one instant, which the broker would rightly record once.
 */
const startedAt = Date.now();

const boot = (id: string) =>
  `[2,"${id}","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"Load","chargePointSerialNumber":"S1","firmwareVersion":"1.0"}]`;
const meterValues = (id: string) =>
  `[2,"${id}","MeterValues",{"connectorId":1,"transactionId":1,"meterValue":[{"timestamp":"${new Date(startedAt + seq).toISOString()}","sampledValue":[` +
  `{"value":"${(seq % 100000) + 0.5}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},` +
  `{"value":"7200","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},` +
  `{"value":"16.1","context":"Sample.Periodic","measurand":"Current.Import","phase":"L1","unit":"A"},` +
  `{"value":"230.2","context":"Sample.Periodic","measurand":"Voltage","phase":"L1-N","unit":"V"}]}]}]`;

function call(station: Station, frame: (id: string) => string): boolean {
  if (!station.ws || station.ws.readyState !== WebSocket.OPEN || station.waiting) return false;
  const id = `m${++seq}`;
  station.waiting = id;
  station.ws.send(frame(id));
  return true;
}

function open(station: Station, onSettled: () => void): void {
  const ws = new WebSocket(`${url}/${station.identity}`, ['ocpp1.6'], { perMessageDeflate: false });
  station.ws = ws;
  station.waiting = undefined;
  let settled = false;
  const settle = () => {
    if (!settled) {
      settled = true;
      onSettled();
    }
  };
  const retry = (afterMs: number) => {
    retries++;
    settle();
    setTimeout(() => station.reconnect && open(station, () => {}), afterMs);
  };
  ws.on('error', () => {});
  ws.once('unexpected-response', (_req, res) => {
    res.resume();
    ws.terminate();
    const after = Number(res.headers['retry-after']);
    station.ws = undefined;
    retry(res.statusCode === 503 && after > 0 ? after * 1000 : 1000);
  });
  ws.once('open', () => {
    settle();
    call(station, boot);
  });
  ws.on('message', (data: Buffer) => {
    if (data[1] !== 0x33 || !station.waiting) return; // only CALLRESULTs to our call
    station.waiting = undefined;
    if (!station.booted) {
      station.booted = true;
      bootedCount++;
      if (bootedCount === stations.length) for (const resolve of bootWaiters.splice(0)) resolve();
    } else {
      answered++;
    }
    if (saturating) call(station, meterValues);
  });
  ws.once('close', () => {
    if (station.ws !== ws) return;
    station.ws = undefined;
    if (station.booted) {
      station.booted = false;
      bootedCount--;
    }
    if (!settled) retry(1000);
    else if (station.reconnect) setTimeout(() => station.reconnect && open(station, () => {}), 1000 + Math.random() * 4000);
  });
}

serve({
  /** Opens `count` stations, at most `concurrency` handshakes at a time; resolves once all are booted. */
  async connect(args) {
    url = String(args.url);
    const count = Number(args.count);
    const concurrency = Number(args.concurrency ?? 500);
    const timeoutMs = Number(args.timeoutMs ?? 120_000);
    stations = Array.from({ length: count }, (_, i) => ({
      identity: `${String(args.prefix ?? 'CP')}${i}`,
      ws: undefined,
      waiting: undefined,
      booted: false,
      reconnect: true,
    }));
    bootedCount = 0;
    retries = 0;
    const started = performance.now();
    const allBooted = new Promise<void>((resolve) => bootWaiters.push(resolve));
    let next = 0;
    await new Promise<void>((resolve) => {
      let inFlight = 0;
      const pump = () => {
        while (inFlight < concurrency && next < stations.length) {
          inFlight++;
          open(stations[next++]!, () => {
            inFlight--;
            if (next < stations.length) pump();
            else if (inFlight === 0) resolve();
          });
        }
      };
      pump();
    });
    const timedOut = await Promise.race([allBooted.then(() => false), new Promise<boolean>((r) => setTimeout(r, timeoutMs, true))]);
    return { ms: Math.round(performance.now() - started), booted: bootedCount, retries, timedOut };
  },
  /** Closed loop from every station until `stop`. */
  saturate() {
    answered = 0;
    saturating = true;
    for (const station of stations) call(station, meterValues);
    return {};
  },
  /** `perSecond` calls a second in total, spread over the stations, until `stop`. */
  rate(args) {
    answered = 0;
    const perTick = Number(args.perSecond) / 100;
    let owed = 0;
    let at = 0;
    rateTimer = setInterval(() => {
      owed += perTick;
      for (let tried = 0; owed >= 1 && tried < stations.length; tried++) {
        if (call(stations[at]!, meterValues)) owed--;
        at = (at + 1) % stations.length;
      }
    }, 10);
    return {};
  },
  /** Every station sends MeterValues every `everyMs` (soak traffic), until `stop`. */
  trickle(args) {
    const everyMs = Number(args.everyMs ?? 10_000);
    rateTimer = setInterval(() => {
      for (const station of stations) if (Math.random() < 100 / everyMs) call(station, meterValues);
    }, 100);
    return {};
  },
  stop() {
    saturating = false;
    clearInterval(rateTimer);
    return { answered };
  },
  /** Ends `count` random stations' connections (they come back on their own). */
  drop(args) {
    const open = stations.filter((s) => s.ws?.readyState === WebSocket.OPEN);
    for (let i = 0; i < Number(args.count) && open.length; i++) open.splice(Math.floor(Math.random() * open.length), 1)[0]!.ws!.terminate();
    return {};
  },
  stats: () => ({ booted: bootedCount, stations: stations.length, retries, answered }),
  async disconnect() {
    const closing = stations.flatMap((s) => {
      s.reconnect = false;
      const ws = s.ws;
      if (!ws || ws.readyState === WebSocket.CLOSED) return [];
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.close(1000);
      return [Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]).then(() => ws.terminate())];
    });
    await Promise.all(closing);
    stations = [];
    bootedCount = 0;
    return {};
  },
});

let rateTimer: NodeJS.Timeout | undefined;
