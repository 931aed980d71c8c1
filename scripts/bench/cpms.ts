/**
 * The bench's CPMS: a bare `ws` server that answers every CALL at once with a canned CALLRESULT (a BootNotification
 * with Accepted, anything else with `{}`). `restart` drops every connection and stops listening for a moment, as a
 * CPMS being redeployed does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { serve } from './ipc.ts';

const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has('ocpp1.6') ? 'ocpp1.6' : false) });
let server: http.Server | undefined;
let port = 0;
const sockets = new Set<WebSocket>();
let answered = 0;
let now = new Date().toISOString();
setInterval(() => (now = new Date().toISOString()), 1000).unref();

wss.on('connection', (ws) => {
  sockets.add(ws);
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => {});
  ws.on('message', (data: Buffer) => {
    if (data[1] !== 0x32) return; // only CALLs, "[2,…"
    const idEnd = data.indexOf(0x22, 4);
    const id = data.toString('latin1', 4, idEnd);
    const boot = data.includes('"BootNotification"');
    answered++;
    ws.send(boot ? `[3,"${id}",{"status":"Accepted","currentTime":"${now}","interval":300}]` : `[3,"${id}",{}]`);
  });
});

function listen(): Promise<number> {
  server = http.createServer((_req, res) => res.writeHead(426).end());
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
  return new Promise((resolve) => server!.listen(port, '127.0.0.1', () => resolve((port = (server!.address() as AddressInfo).port))));
}

serve({
  listen: () => listen(),
  stats: () => ({ connections: sockets.size, answered }),
  async restart(args) {
    const downMs = Number(args.downMs ?? 2000);
    await new Promise<void>((resolve) => {
      server!.close(() => resolve());
      for (const ws of sockets) ws.terminate();
      server!.closeAllConnections();
    });
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await listen();
    return { port };
  },
});
