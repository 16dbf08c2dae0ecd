// An unmodified-looking HTTP app for the drain tests. GET / answers at once; GET /hold is a
// request in flight for as long as a test needs (answered on SIGUSR2); an upgrade to
// websocket is accepted and then left to the drain. On stderr: its heap limit (to see the
// user's NODE_OPTIONS kept) and each request it holds.
'use strict';
const crypto = require('crypto');
const http = require('http');
const v8 = require('v8');

const held = [];
const server = http.createServer((req, res) => {
  if (req.url === '/hold') {
    held.push(res);
    console.error('held ' + req.url);
    return;
  }
  res.end('hello\n');
});
server.on('upgrade', (req, socket) => {
  const accept = crypto.createHash('sha1')
    .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
    .digest('base64');
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n' +
               'Connection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n\r\n');
  console.error('upgraded');
});
server.listen(process.env.PORT);
process.on('SIGUSR2', () => {
  for (const res of held.splice(0))
    res.end('released\n');
});
console.error('heap limit ' +
  Math.round(v8.getHeapStatistics().heap_size_limit / 1048576) + ' MB');
