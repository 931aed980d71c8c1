/**
 * Floods a broker until killed, from its own process (so that the test measuring the broker is not slowed down by
 * it): `node test/support/flood.ts <port> <slug>…`. Each slug gets station upgrades that start again as soon as one
 * ends; sign-ins with wrong passwords and large request bodies go on at the same time.
 */
import http from 'node:http';
import net from 'node:net';

const [port, ...slugs] = [Number(process.argv[2]), ...process.argv.slice(3)];
const STATIONS = 300;

function upgrade(slug: string, n: number): void {
  const socket = net.connect(port, '127.0.0.1', () =>
    socket.write(
      `GET /ocpp/${slug}/CP${n % 100_000} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ),
  );
  socket.on('error', () => {});
  socket.on('close', () => setImmediate(() => upgrade(slug, n + STATIONS)));
}

async function signIns(): Promise<never> {
  for (;;) {
    await fetch(`http://127.0.0.1:${port}/trpc/auth.login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: `u${Math.random()}`, password: 'wrong password' }),
    }).catch(() => {});
  }
}

function largeBody(): void {
  const req = http.request({ host: '127.0.0.1', port, path: '/trpc/auth.login', method: 'POST', headers: { 'content-type': 'application/json' } });
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const write = () => {
    while (req.write(chunk));
    req.once('drain', write);
  };
  req.on('response', (res) => res.resume());
  req.on('error', () => {});
  req.on('close', () => setImmediate(largeBody));
  write();
}

const kinds = (process.env.FLOOD ?? 'upgrades,signins,bodies').split(',');
if (kinds.includes('upgrades')) for (let i = 0; i < STATIONS; i++) upgrade(slugs[i % slugs.length]!, i);
if (kinds.includes('signins')) for (let i = 0; i < 20; i++) void signIns();
if (kinds.includes('bodies')) for (let i = 0; i < 2; i++) largeBody();
console.log('flooding');
