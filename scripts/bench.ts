/**
 * `npm run bench`: the broker side by side with "pipe-parse" (scripts/bench/pipe.ts, a bare `ws` proxy that forwards
 * each frame and JSON.parses it), against the same fake CPMS and load generator (scripts/bench/cpms.ts, load.ts),
 * each in its own process. The measured process is started afresh for each round; rounds alternate which goes first.
 * CPU comes from /proc/<pid>/stat (utime + stime; the forwarding thread's from /proc/<pid>/task/<pid>/stat), memory
 * from RSS. Prints each figure as broker / pipe and their ratio; docs/performance.md records results.
 *
 *   npm run bench                 the full run (about 10 minutes)
 *   npm run bench -- --quick      smaller and shorter (about 2 minutes)
 *   npm run bench -- --only broker   one side only (broker or pipe), to look at one while changing it
 *   npm run bench -- --cpu-prof <dir>   the broker writes a CPU profile of each run into <dir> (node --cpu-prof)
 *   npm run bench -- --storm 9980   only a reconnect storm of that many stations (with the broker's refusals)
 *   npm run bench -- --idle   only the memory per idle station (a fresh process per side)
 *   npm run bench -- --executable   only the memory just after start, of the single executable (dist/ocpp-broker,
 *                                 built when stale) instead of `npm start`'s bundle; 3 rounds unless --rounds
 *   npm run bench -- --soak 600   the broker alone for 600 s: 1,000 stations, 10 dropped every 10 s, the CPMS
 *                                 restarting every 90 s; RSS after warm-up and at the end
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';

const root = path.resolve(import.meta.dirname, '..');
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    soak: { type: 'string' },
    rounds: { type: 'string' },
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    storm: { type: 'string' },
    idle: { type: 'boolean' },
    executable: { type: 'boolean' },
  },
});
const quick = flags.quick ?? false;

const CLOCK_TICKS = 100; // _SC_CLK_TCK on Linux
const PAGE = 4096;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const plan = quick
  ? { rounds: 1, saturationS: 4, rateS: 5, idle: 1000, storms: [2000], settleMs: 2000 }
  : { rounds: 2, saturationS: 10, rateS: 10, idle: 5000, storms: [5000, 10_000], settleMs: 3000 };
if (flags.executable) plan.rounds = 3;
if (flags.rounds) plan.rounds = Number(flags.rounds);
if (flags.executable && (flags['cpu-prof'] || flags.idle || flags.storm || flags.soak)) {
  // Node flags change what the executable runs (its code cache is rejected) and --import does not reach its files.
  console.error('bench: --executable measures the memory just after start only; it takes no --cpu-prof, --idle, --storm or --soak');
  process.exit(2);
}
const EXECUTABLE = path.join(root, 'dist', 'ocpp-broker');

// ---- processes ----------------------------------------------------------------------------------------------------

/** The file limit of each child: raised to the hard limit (`ulimit -n`), as 10,000 station pairs need it. */
const hardLimit = Number(sh('ulimit -Hn')) || 1024;
function sh(command: string): string {
  return execSync(command, { shell: '/bin/sh', encoding: 'utf8' }).trim();
}

/** Starts `command` (this Node, unless `options.program`) with `args`. */
function start(args: string[], options: { env?: Record<string, string>; ipc?: boolean; program?: string } = {}): ChildProcess {
  return spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', options.program ?? process.execPath, ...args], {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'inherit', ...(options.ipc ? (['ipc'] as const) : [])],
  });
}

/** A helper process that takes commands over IPC (scripts/bench/ipc.ts). */
function helper(script: string) {
  const child = start([path.join(root, 'scripts', 'bench', script)], { ipc: true });
  child.stdout!.resume();
  let next = 0;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  child.on('message', (message: { id: number; result?: unknown; error?: string }) => {
    const w = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error) w?.reject(new Error(`${script}: ${message.error}`));
    else w?.resolve(message.result);
  });
  return {
    child,
    send<T = any>(command: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = ++next;
      child.send({ id, command, args });
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    stop() {
      child.kill();
    },
  };
}

/** The JSON line on standard output that says the process listens, and what it logged after (the rest is drained). */
function firstLine(
  child: ChildProcess,
  test: (line: Record<string, unknown>) => boolean,
  after?: (line: Record<string, unknown>) => void,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (test(entry)) resolve(entry);
      else after?.(entry);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before it listened`)));
  });
}

interface Target {
  name: 'broker' | 'pipe';
  pid: number;
  /** ws://…/ocpp/<slug> or the pipe's equivalent; stations append /<identity>. */
  url: string;
  /** Why stations were refused since the last call, and how often (the broker's `connection.refused` log lines). */
  refusals?(): Record<string, number>;
  /** The broker's capture counters, from its /metrics. */
  capture?(): Promise<{ samplesWritten: number; dropped: number }>;
  /** The sum of one of the broker's metrics (all its series). */
  metric?(name: string): Promise<number>;
  stop(): Promise<void>;
}

/** Node flags for a process whose idle memory is measured: a full GC on SIGUSR2 (scripts/bench/gc-on-signal.ts). */
const GC_ON_SIGNAL = ['--expose-gc', '--import', './scripts/bench/gc-on-signal.ts'];

async function startBroker(cpmsUrl: string, gc = false): Promise<Target> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocpp-broker-bench-'));
  const admin = { user: 'bench', password: 'bench password 1234' };
  const profile = flags['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(flags['cpu-prof'])] : [];
  const listen = ['--port', '0', '--tls-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir];
  const env = { BROKER_ADMIN_USER: admin.user, BROKER_ADMIN_PASSWORD: admin.password };
  const child = flags.executable
    ? start(['serve', ...listen], { env, program: EXECUTABLE })
    : start([...profile, ...(gc ? GC_ON_SIGNAL : []), 'build/server/main.mjs', ...listen], { env });
  let refusals: Record<string, number> = {};
  const started = await firstLine(
    child,
    (l) => l.event === 'started',
    (l) => {
      if (l.event !== 'connection.refused') return;
      const why = `${String(l.status)} ${String(l.reason)}`.replace(/\d{2,}/g, 'N');
      refusals[why] = (refusals[why] ?? 0) + 1;
    },
  );
  const base = `http://127.0.0.1:${started.port as number}`;
  const login = await fetch(`${base}/trpc/auth.login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: admin.user, password: admin.password }),
  });
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const created = await fetch(`${base}/trpc/tenants.create`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ name: 'Bench', slug: 'bench', cpmsUrl, allowUnknownStations: true }),
  });
  if (!created.ok) throw new Error(`creating the tenant failed: ${await created.text()}`);
  return {
    name: 'broker',
    pid: child.pid!,
    url: `ws://127.0.0.1:${started.port as number}/ocpp/bench`,
    refusals() {
      const seen = refusals;
      refusals = {};
      return seen;
    },
    async capture() {
      const text = await (await fetch(`${base}/metrics`)).text();
      return { samplesWritten: sumOf(text, 'ocpp_broker_samples_written_total'), dropped: sumOf(text, 'ocpp_broker_observations_dropped_total') };
    },
    async metric(name) {
      return sumOf(await (await fetch(`${base}/metrics`)).text(), name);
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The sum of a metric's series in a Prometheus text exposition. */
function sumOf(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function startPipe(cpmsUrl: string, gc = false): Promise<Target> {
  const child = start([...(gc ? GC_ON_SIGNAL : []), path.join(root, 'scripts', 'bench', 'pipe.ts'), cpmsUrl]);
  const { port } = await firstLine(child, (l) => 'port' in l);
  return {
    name: 'pipe',
    pid: child.pid!,
    url: `ws://127.0.0.1:${port as number}/ocpp/bench`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

// ---- /proc ----------------------------------------------------------------------------------------------------

/** CPU seconds (utime + stime) of a process, or of one of its threads. */
function cpuSeconds(pid: number, tid?: number): number {
  const stat = fs.readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // fields 14 and 15 of stat(5)
}

function rssBytes(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
}

function cpu(pid: number) {
  return { process: cpuSeconds(pid), thread: cpuSeconds(pid, pid) };
}

// ---- figures --------------------------------------------------------------------------------------------------

type Figures = Record<string, number>;
const MB = 1e6;

async function measure(target: Target, load: ReturnType<typeof helper>): Promise<Figures> {
  const figures: Figures = {};
  await sleep(plan.settleMs);
  figures['memory just after start (MB)'] = rssBytes(target.pid) / MB;
  if (flags.storm) return { ...figures, ...(await storm(target, load, Number(flags.storm))) };

  await connect(load, target, 100, 'SAT');
  let before = cpu(target.pid);
  await load.send('saturate');
  await sleep(plan.saturationS * 1000);
  let after = cpu(target.pid);
  let { answered } = await load.send<{ answered: number }>('stop');
  const saturated = answered;
  await sleep(300);
  figures['saturation, 100 stations: calls/s'] = answered / plan.saturationS;
  figures['saturation: CPU per call, process (us)'] = ((after.process - before.process) / answered) * 1e6;
  figures['saturation: CPU per call, forwarding thread (us)'] = ((after.thread - before.thread) / answered) * 1e6;
  await load.send('disconnect');

  await connect(load, target, 1000, 'RATE');
  before = cpu(target.pid);
  await load.send('rate', { perSecond: 2000 });
  await sleep(plan.rateS * 1000);
  after = cpu(target.pid);
  ({ answered } = await load.send<{ answered: number }>('stop'));
  await sleep(300);
  figures['2,000 calls/s over 1,000 stations: calls/s'] = answered / plan.rateS;
  figures['2,000/s: CPU per call, process (us)'] = ((after.process - before.process) / answered) * 1e6;
  figures['2,000/s: CPU per call, forwarding thread (us)'] = ((after.thread - before.thread) / answered) * 1e6;
  figures['2,000/s: share of one core, process (%)'] = ((after.process - before.process) / plan.rateS) * 100;
  await load.send('disconnect');
  if (target.capture) await checkCapture(target, 4 * (saturated + answered));

  for (const wanted of plan.storms) {
    if (wanted === plan.idle) continue;
    await sleep(plan.settleMs);
    Object.assign(figures, await storm(target, load, wanted));
  }
  return figures;
}

/**
 * Memory per idle station, in a process of its own (started with GC_ON_SIGNAL): RSS after a full GC once settled,
 * then with `plan.idle` stations connected and booted, after another; the difference per station. Also the time
 * those stations took to connect and boot.
 */
async function idle(target: Target, load: ReturnType<typeof helper>): Promise<Figures> {
  const n = plan.idle.toLocaleString('en');
  await sleep(plan.settleMs);
  const before = await collected(target.pid);
  const booted = await connect(load, target, plan.idle, 'IDLE');
  await sleep(plan.settleMs);
  const after = await collected(target.pid);
  await load.send('disconnect');
  return { [`connect and boot ${n} (s)`]: booted.ms / 1000, [`memory per idle station at ${n} (KB)`]: (after - before) / plan.idle / 1000 };
}

/** RSS a second after a full GC (SIGUSR2, see GC_ON_SIGNAL). */
async function collected(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await sleep(1000);
  return rssBytes(pid);
}

/** As many of `wanted` stations as fit connect at once; a storm that does not boot them all is NaN, not fatal. */
async function storm(target: Target, load: ReturnType<typeof helper>, wanted: number): Promise<Figures> {
  const count = Math.min(wanted, stationsThatFit());
  const before = cpuSeconds(target.pid);
  const result = await connect(load, target, count, 'STORM').catch((error: Error) => (console.log(`  ${error.message}`), undefined));
  const cpuMs = ((cpuSeconds(target.pid) - before) / count) * 1000;
  await load.send('disconnect');
  const n = count.toLocaleString('en');
  return { [`connect and boot ${n} (s)`]: result ? result.ms / 1000 : NaN, [`connect and boot ${n}: CPU per station, process (ms)`]: cpuMs };
}

/**
 * Every sample the CPMS answered (4 per MeterValues) must be written within 30 s of the load's end, none dropped
 * (issue #10's "done when"): printed as a line of its own, not a ratio, as the pipe records nothing.
 */
async function checkCapture(target: Target, expected: number): Promise<void> {
  const started = Date.now();
  let counts = await target.capture!();
  while (counts.samplesWritten < expected && Date.now() - started < 30_000) {
    await sleep(250);
    counts = await target.capture!();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const verdict = counts.samplesWritten >= expected && counts.dropped === 0 ? 'ok' : 'NOT OK';
  console.log(
    `  capture (${target.name}): ${counts.samplesWritten} of ${expected} samples the CPMS answered written ${seconds} s after the load ended, ${counts.dropped} observations dropped: ${verdict}`,
  );
}

/** Each station is two sockets in the measured process; leave room for its listeners, database and pipes. */
function stationsThatFit(): number {
  return Math.floor((hardLimit - 40) / 2);
}

async function connect(load: ReturnType<typeof helper>, target: Target, count: number, prefix: string) {
  const result = await load.send<{ ms: number; booted: number; retries: number; timedOut: boolean }>('connect', {
    url: target.url,
    count,
    prefix,
    concurrency: 500,
  });
  const refusals = Object.entries(target.refusals?.() ?? {});
  if (refusals.length) console.log(`  (${target.name} refused: ${refusals.map(([why, n]) => `${n} x ${why}`).join('; ')})`);
  if (result.timedOut || result.booted !== count) {
    throw new Error(`${target.name}: only ${result.booted} of ${count} stations booted (${result.retries} retries)`);
  }
  if (result.retries) console.log(`  (${target.name}: ${result.retries} connection attempts retried for ${count} stations)`);
  return result;
}

// ---- runs -----------------------------------------------------------------------------------------------------

async function main() {
  // The broker as `npm start` runs it: the bundles of scripts/build-server.ts, rebuilt when stale.
  if (flags.only !== 'pipe' || flags.soak) execSync(`"${process.execPath}" scripts/build-server.ts --if-stale`, { cwd: root, stdio: 'inherit' });
  if (flags.executable && flags.only !== 'pipe') execSync(`"${process.execPath}" scripts/package.ts --if-stale`, { cwd: root, stdio: 'inherit' });
  const cpms = helper('cpms.ts');
  const load = helper('load.ts');
  const cpmsUrl = `ws://127.0.0.1:${await cpms.send<number>('listen')}`;
  try {
    if (flags.soak) await soak(Number(flags.soak), cpms, load, cpmsUrl);
    else await compare(cpms, load, cpmsUrl);
  } finally {
    cpms.stop();
    load.stop();
  }
}

async function compare(_cpms: ReturnType<typeof helper>, load: ReturnType<typeof helper>, cpmsUrl: string) {
  console.log(`bench: ${quick ? 'quick' : 'full'} run${flags.executable ? ' of the single executable' : ''}, ${plan.rounds} round(s), ${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}, file limit ${hardLimit}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const results: Record<'broker' | 'pipe', Figures[]> = { broker: [], pipe: [] };
  const began = performance.now();
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? (['broker', 'pipe'] as const) : (['pipe', 'broker'] as const);
    for (const name of order) {
      if (flags.only && flags.only !== name) continue;
      const target = name === 'broker' ? await startBroker(cpmsUrl) : await startPipe(cpmsUrl);
      let figures: Figures;
      try {
        figures = flags.idle || flags.executable ? { 'memory just after start (MB)': (await sleep(plan.settleMs), rssBytes(target.pid) / MB) } : await measure(target, load);
      } finally {
        await target.stop();
      }
      if (!flags.storm && !flags.executable) {
        // Idle memory in a fresh process: in the one above, RSS fell as the GC returned what the load had used.
        const fresh = name === 'broker' ? await startBroker(cpmsUrl, true) : await startPipe(cpmsUrl, true);
        try {
          Object.assign(figures, await idle(fresh, load));
        } finally {
          await fresh.stop();
        }
      }
      results[name].push(figures);
      console.log(`round ${round + 1}, ${name}: ${Object.entries(figures).map(([k, v]) => `${k} ${format(v)}`).join('; ')}`);
    }
  }
  console.log(`\n| measured | broker | pipe-parse | ratio |\n|---|---|---|---|`);
  for (const figure of Object.keys(results.broker[0] ?? results.pipe[0]!)) {
    const broker = median(results.broker.map((f) => f[figure]!));
    const pipe = median(results.pipe.map((f) => f[figure]!));
    console.log(`| ${figure} | ${format(broker)} | ${format(pipe)} | ${(broker / pipe).toFixed(2)}x |`);
  }
  console.log(`\n(medians of ${plan.rounds} round(s); ${((performance.now() - began) / 1000).toFixed(0)} s; load average now ${os.loadavg()[0]!.toFixed(1)})`);
}

async function soak(seconds: number, cpms: ReturnType<typeof helper>, load: ReturnType<typeof helper>, cpmsUrl: string) {
  const stations = quick ? 200 : 1000;
  console.log(`soak: broker alone, ${stations} stations for ${seconds} s, 10 dropped every 10 s, the CPMS restarting every 90 s, MeterValues every 10 s per station`);
  const target = await startBroker(cpmsUrl);
  try {
    await connect(load, target, stations, 'SOAK');
    await load.send('trickle', { everyMs: 10_000 });
    const began = performance.now();
    const elapsed = () => (performance.now() - began) / 1000;
    // Warm once what is bounded has filled: the message inspector keeps each station's last 200 frames (up to 64 MB),
    // which at this traffic takes about 15 minutes. The RSS it grows to before is not a leak.
    const minimumWarmUpS = Math.min(120, seconds / 5);
    const inspectorFull = async () => (await target.metric!('ocpp_broker_inspector_frames')) >= 0.98 * 200 * stations || (await target.metric!('ocpp_broker_inspector_bytes')) >= 0.98 * 64 * 1024 * 1024;
    let warm: number | undefined;
    let nextDrop = 10;
    let nextRestart = 90;
    let nextPrint = 30;
    while (elapsed() < seconds) {
      await sleep(1000);
      const t = elapsed();
      if (t >= nextDrop) {
        nextDrop += 10;
        await load.send('drop', { count: 10 });
      }
      if (t >= nextRestart) {
        nextRestart += 90;
        await cpms.send('restart', { downMs: 2000 });
      }
      if (warm === undefined && t >= minimumWarmUpS && (await inspectorFull())) {
        warm = rssBytes(target.pid);
        console.log(`  after warm-up (${t.toFixed(0)} s, the inspector full): RSS ${format(warm / MB)} MB`);
      }
      if (t >= nextPrint) {
        nextPrint += 30;
        const stats = await load.send<{ booted: number }>('stats');
        const frames = await target.metric!('ocpp_broker_inspector_frames');
        const bytes = await target.metric!('ocpp_broker_inspector_bytes');
        console.log(`  ${t.toFixed(0)} s: RSS ${format(rssBytes(target.pid) / MB)} MB, ${stats.booted} of ${stations} stations booted, inspector ${frames} frames (${format(bytes / MB)} MB)`);
      }
    }
    await load.send('stop');
    // The end: every station back after the last restart or drop, then the same settling as after warm-up.
    const deadline = performance.now() + 60_000;
    while ((await load.send<{ booted: number }>('stats')).booted < stations && performance.now() < deadline) await sleep(500);
    const end = rssBytes(target.pid);
    if (warm === undefined) console.log(`soak: the inspector never filled: run longer (RSS at the end ${format(end / MB)} MB)`);
    else console.log(`soak: RSS after warm-up ${format(warm / MB)} MB, at the end ${format(end / MB)} MB (${(((end - warm) / warm) * 100).toFixed(1)} %)`);
    await load.send('disconnect');
  } finally {
    await target.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
