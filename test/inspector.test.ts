import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InspectedFrame, InspectorEvent } from '../server/inspector/index.ts';
import { apiClient, signIn, startTestBroker, type TestBroker } from './support/broker.ts';
import { startCpms, station, type TestCpms } from './support/ocpp.ts';

let broker: TestBroker;
let cpms: TestCpms;
let tenantId: number;
let viewer: ReturnType<typeof apiClient>;
let viewerCookie: string;
let adminCookie: string;
const stations: ReturnType<typeof station>[] = [];

beforeAll(async () => {
  [broker, cpms] = await Promise.all([startTestBroker({ logLevel: 'silent' }), startCpms()]);
  tenantId = (await broker.api.tenants.create.mutate({ name: 'Acme', slug: 'acme', cpmsUrl: cpms.url, allowUnknownStations: true })).id;
  await broker.api.users.create.mutate({ username: 'watcher', password: 'a password long enough', role: 'viewer' });
  viewerCookie = await signIn(broker.server.url, 'watcher', 'a password long enough');
  adminCookie = await signIn(broker.server.url, 'admin', 'correct horse battery staple');
  viewer = apiClient(broker.server.url, { cookie: viewerCookie });
});

afterAll(async () => {
  await Promise.all(stations.map((cp) => cp.close({ force: true })));
  await cpms?.close();
  await broker?.close();
});

/** A station connected through the broker, and its connection as the CPMS sees it. */
async function connect(identity: string, protocol: 'ocpp1.6' | 'ocpp2.0.1') {
  const cp = station(broker.endpoint('acme'), identity, [protocol]);
  stations.push(cp);
  const [client] = await Promise.all([cpms.nextClient(), cp.connect()]);
  return { cp, client };
}

/** What the inspector shows of a frame, in short: direction, type, action and id. */
const line = (f: InspectedFrame) => `${f.origin}->${f.to} ${f.type} ${f.action} ${f.id}`;
const payloadOf = (f: InspectedFrame) => (JSON.parse(f.text) as unknown[])[f.type === 'call' ? 3 : 2];

describe('the message inspector', () => {
  it('shows the frames of a session in order in both directions, each answer with the action of its call', async () => {
    const { cp, client } = await connect('CP-ORDER', 'ocpp1.6');
    cp.handle('RemoteStopTransaction', async () => ({ status: 'Accepted' }));
    await cp.call('BootNotification', { chargePointVendor: 'Alfen', chargePointModel: 'Eve' });
    await cp.call('Heartbeat', {});
    await client.call('RemoteStopTransaction', { transactionId: 7 });
    const frames = await viewer.inspector.frames.query({ tenantId, identity: 'CP-ORDER' });
    expect(frames.map(line)).toEqual([
      expect.stringMatching(/^station->cpms call BootNotification /),
      expect.stringMatching(/^cpms->station result BootNotification /),
      expect.stringMatching(/^station->cpms call Heartbeat /),
      expect.stringMatching(/^cpms->station result Heartbeat /),
      expect.stringMatching(/^cpms->station call RemoteStopTransaction /),
      expect.stringMatching(/^station->cpms result RemoteStopTransaction /),
    ]);
    // each answer carries its call's id, and the frame as it went through
    for (let i = 0; i < 6; i += 2) expect(frames[i + 1]!.id).toBe(frames[i]!.id);
    expect(payloadOf(frames[0]!)).toEqual({ chargePointVendor: 'Alfen', chargePointModel: 'Eve' });
    expect(frames[0]).toMatchObject({ masked: false, truncated: false, size: Buffer.byteLength(frames[0]!.text) });
    expect(frames.map((f) => f.seq)).toEqual([...frames.map((f) => f.seq)].sort((a, b) => a - b));
    expect(Date.parse(frames[0]!.at)).toBeGreaterThan(Date.now() - 60_000);
    // filtered by action: the call and its answer
    expect((await viewer.inspector.frames.query({ tenantId, identity: 'CP-ORDER', action: 'Heartbeat' })).map((f) => f.type)).toEqual(['call', 'result']);
  });

  it('masks the badge ids of OCPP 1.6 in calls and in the CPMS answers', async () => {
    const { cp, client } = await connect('CP-16', 'ocpp1.6');
    client.handle('Authorize', async () => ({ idTagInfo: { status: 'Accepted', parentIdTag: 'PARENT-77-XYZ' } }));
    await cp.call('Authorize', { idTag: 'BADGE0001ABC' });
    await cp.call('StartTransaction', { connectorId: 1, idTag: 'BADGE0001ABC', meterStart: 0, timestamp: new Date().toISOString() });
    await cp.call('StopTransaction', { transactionId: 4711, idTag: 'BADGE0001ABC', meterStop: 10, timestamp: new Date().toISOString() });
    const frames = await viewer.inspector.frames.query({ tenantId, identity: 'CP-16' });
    expect(frames.map((f) => `${f.type} ${f.action}`)).toEqual([
      'call Authorize', 'result Authorize', 'call StartTransaction', 'result StartTransaction', 'call StopTransaction', 'result StopTransaction',
    ]);
    const text = frames.map((f) => f.text).join('\n');
    expect(text).not.toContain('BADGE0001ABC');
    expect(text).not.toContain('PARENT-77-XYZ');
    expect(payloadOf(frames[0]!)).toEqual({ idTag: 'BADG****' });
    expect(payloadOf(frames[1]!)).toEqual({ idTagInfo: { status: 'Accepted', parentIdTag: 'PARE****' } });
    expect(frames.filter((f) => f.masked).map((f) => f.action)).toEqual(['Authorize', 'Authorize', 'StartTransaction', 'StopTransaction']);
  });

  it('masks 2.0.1 idToken.idToken for viewers, and reveals it to an admin who asks, in the audit log', async () => {
    const { cp } = await connect('CP-201', 'ocpp2.0.1');
    await cp.call('TransactionEvent', {
      eventType: 'Started',
      timestamp: new Date().toISOString(),
      triggerReason: 'Authorized',
      seqNo: 0,
      transactionInfo: { transactionId: 'T-1' },
      idToken: { idToken: 'TOKEN-2001-XYZ', type: 'ISO14443' },
    });
    const [masked] = await viewer.inspector.frames.query({ tenantId, identity: 'CP-201', action: 'TransactionEvent' });
    expect(payloadOf(masked!)).toMatchObject({ idToken: { idToken: 'TOKE****', type: 'ISO14443' } });
    expect(masked!.text).not.toContain('TOKEN-2001-XYZ');

    await expect(viewer.inspector.frames.query({ tenantId, identity: 'CP-201', reveal: true })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    const [revealed] = await broker.api.inspector.frames.query({ tenantId, identity: 'CP-201', reveal: true, action: 'TransactionEvent' });
    expect(payloadOf(revealed!)).toMatchObject({ idToken: { idToken: 'TOKEN-2001-XYZ' } });
    expect(revealed!.masked).toBe(false);
    const [entry] = await broker.api.audit.list.query({ action: 'inspector.' });
    expect(entry).toMatchObject({ action: 'inspector.reveal', actor: 'user:admin', target: 'station:acme/CP-201' });
  });

  it('masks a password the CPMS sets on a station even for an admin who reveals badges', async () => {
    const { cp, client } = await connect('CP-SECRET', 'ocpp1.6');
    cp.handle('ChangeConfiguration', async () => ({ status: 'Accepted' }));
    await client.call('ChangeConfiguration', { key: 'AuthorizationKey', value: '0123456789ABCDEF0123' });
    const frames = await broker.api.inspector.frames.query({ tenantId, identity: 'CP-SECRET', reveal: true });
    expect(payloadOf(frames[0]!)).toEqual({ key: 'AuthorizationKey', value: '****' });
  });

  it('marks the answers the broker gives itself as coming from the broker, and their calls as going to it', async () => {
    const { cp } = await connect('CP-LOCAL', 'ocpp1.6');
    await broker.api.tenants.update.mutate({ id: tenantId, authorizationMode: 'broker' });
    try {
      await cp.call('Authorize', { idTag: 'UNKNOWN-BADGE-1' });
    } finally {
      await broker.api.tenants.update.mutate({ id: tenantId, authorizationMode: 'cpms' });
    }
    const frames = await viewer.inspector.frames.query({ tenantId, identity: 'CP-LOCAL', action: 'Authorize' });
    expect(frames.map(line)).toEqual([`station->broker call Authorize ${frames[0]!.id}`, `broker->station result Authorize ${frames[0]!.id}`]);
    expect(payloadOf(frames[1]!)).toEqual({ idTagInfo: { status: 'Invalid' } });
  });

  it('refuses anyone not signed in, and a tenant that does not exist', async () => {
    const anonymous = apiClient(broker.server.url);
    await expect(anonymous.inspector.frames.query({ tenantId, identity: 'CP-ORDER' })).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
    await expect(viewer.inspector.frames.query({ tenantId: 999, identity: 'CP-ORDER' })).rejects.toMatchObject({ data: { code: 'NOT_FOUND' } });
  });
});

/** One server-sent event. */
interface Sse {
  event: string;
  data: string;
  id?: string;
}

/** `inspector.stream` read as any HTTP client reads server-sent events: a GET, then the body as it comes. */
async function openStream(input: Record<string, unknown>, cookie: string) {
  const abort = new AbortController();
  const url = `${broker.server.url}/trpc/inspector.stream?input=${encodeURIComponent(JSON.stringify(input))}`;
  const response = await fetch(url, { headers: { cookie, accept: 'text/event-stream' }, signal: abort.signal });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  const parsed: Sse[] = [];
  async function next(): Promise<Sse> {
    for (;;) {
      const event = parsed.shift();
      if (event) return event;
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended');
      buffered += value;
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const sse: Sse = { event: 'message', data: '' };
        for (const row of block.split('\n')) {
          const [, field, content] = /^([a-z]+): ?(.*)$/.exec(row) ?? [];
          if (field === 'event') sse.event = content!;
          else if (field === 'data') sse.data += content;
          else if (field === 'id') sse.id = content;
        }
        if (block.trim()) parsed.push(sse);
      }
    }
  }
  /** The next inspector event, past pings. */
  async function nextEvent(): Promise<InspectorEvent & { id?: string }> {
    for (;;) {
      const sse = await next();
      if (sse.event === 'serialized-error') throw Object.assign(new Error('stream error'), JSON.parse(sse.data) as object);
      if (sse.event === 'message') return { ...(JSON.parse(sse.data) as InspectorEvent), id: sse.id };
    }
  }
  return { next, nextEvent, close: () => abort.abort() };
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${broker.server.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('not seen in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the message inspector stream', () => {
  it('sends a station\'s frames to a viewer as they happen, over server-sent events, badges masked', async () => {
    const stream = await openStream({ tenantId, identity: 'CP-LIVE' }, viewerCookie);
    try {
      expect((await stream.next()).event).toBe('connected');
      await eventually(async () => (await metric('ocpp_broker_inspector_streams')) === 1);
      const { cp } = await connect('CP-LIVE', 'ocpp1.6');
      await cp.call('Authorize', { idTag: 'LIVEBADGE-42' });
      const call = await stream.nextEvent();
      const answer = await stream.nextEvent();
      expect(call.kind === 'frame' && call.frame).toMatchObject({ origin: 'station', to: 'cpms', type: 'call', action: 'Authorize' });
      expect(answer.kind === 'frame' && answer.frame).toMatchObject({ origin: 'cpms', to: 'station', type: 'result', action: 'Authorize' });
      expect(call.kind === 'frame' && payloadOf(call.frame)).toEqual({ idTag: 'LIVE****' });
      // each event is tracked by its frame's seq, for reconnecting
      expect(call.kind === 'frame' && call.id).toBe(String(call.kind === 'frame' && call.frame.seq));
    } finally {
      stream.close();
    }
    await eventually(async () => (await metric('ocpp_broker_inspector_streams')) === 0);
  });

  it('gives a reconnecting stream the frames it missed that are still held', async () => {
    const { cp } = await connect('CP-AGAIN', 'ocpp1.6');
    await cp.call('Heartbeat', {});
    const [first] = await viewer.inspector.frames.query({ tenantId, identity: 'CP-AGAIN' });
    const stream = await openStream({ tenantId, identity: 'CP-AGAIN', lastEventId: String(first!.seq) }, viewerCookie);
    try {
      const missed = await stream.nextEvent();
      expect(missed.kind === 'frame' && `${missed.frame.type} ${missed.frame.action}`).toBe('result Heartbeat');
    } finally {
      stream.close();
    }
  });

  it('refuses a viewer\'s stream that asks to reveal badges', async () => {
    const stream = await openStream({ tenantId, identity: 'CP-LIVE', reveal: true }, viewerCookie);
    try {
      await expect(stream.nextEvent()).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    } finally {
      stream.close();
    }
  });

  it('keeps at most 20 streams open, and takes a new one once one closes', async () => {
    const open = await Promise.all(Array.from({ length: 20 }, () => openStream({ tenantId, identity: 'CP-MANY' }, viewerCookie)));
    try {
      await eventually(async () => (await metric('ocpp_broker_inspector_streams')) === 20);
      const refused = await openStream({ tenantId, identity: 'CP-MANY' }, viewerCookie);
      await expect(refused.nextEvent()).rejects.toMatchObject({ data: { code: 'TOO_MANY_REQUESTS' } });
      refused.close();
      open.pop()!.close();
      await eventually(async () => (await metric('ocpp_broker_inspector_streams')) === 19);
      const again = await openStream({ tenantId, identity: 'CP-MANY' }, adminCookie);
      open.push(again);
      await eventually(async () => (await metric('ocpp_broker_inspector_streams')) === 20);
    } finally {
      for (const stream of open) stream.close();
    }
    await eventually(async () => (await metric('ocpp_broker_inspector_streams')) === 0);
  });

  it('reports the frames and bytes it holds in /metrics', async () => {
    const held = (await viewer.inspector.frames.query({ tenantId, identity: 'CP-ORDER' })).length;
    expect(await metric('ocpp_broker_inspector_frames')).toBeGreaterThanOrEqual(held);
    expect(await metric('ocpp_broker_inspector_bytes')).toBeGreaterThan(0);
  });
});
