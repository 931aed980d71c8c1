/**
 * The bench's yardstick, "pipe-parse": the least a proxy on `ws` can do. For each station it opens the CPMS link
 * first (as the broker does), then accepts the station; it forwards every frame both ways and JSON.parses it,
 * nothing else. Usage: node scripts/bench/pipe.ts <CPMS URL>; prints `{"port":…}` once it listens.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

const cpmsUrl = process.argv[2]!;
const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => [...offered][0] ?? false });
const server = http.createServer((_req, res) => res.writeHead(426).end());

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const cpms = new WebSocket(cpmsUrl + req.url!.slice(req.url!.lastIndexOf('/')), protocols);
  cpms.once('error', () => socket.destroy());
  cpms.once('unexpected-response', (_request, response) => {
    response.resume();
    socket.end(`HTTP/1.1 ${response.statusCode} x\r\nConnection: close\r\n\r\n`);
  });
  cpms.once('open', () => {
    wss.handleUpgrade(req, socket, head, (station) => {
      pair(station, cpms);
      pair(cpms, station);
    });
  });
});

function pair(from: WebSocket, to: WebSocket) {
  from.on('error', () => {});
  from.on('message', (data: Buffer) => {
    JSON.parse(data.toString());
    to.send(data, { binary: false });
  });
  from.on('close', () => to.close());
}

server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
