// The demo app of `make run`: a plain Node HTTP server that serves on the socket baton
// passes (fd 3, LISTEN_FDS) and drains on SIGTERM.
'use strict';
const http = require('http');
const net = require('net');

const id = process.env.BATON_WORKER_ID || '?';
let draining = false;
const server = http.createServer((req, res) => {
  if (draining) res.setHeader('Connection', 'close');
  res.end(`hello from worker ${id} (pid ${process.pid})\n`);
});

server.listen(process.env.LISTEN_FDS ? { fd: 3 } : Number(process.env.PORT || 8080), () => {
  console.log(`worker ${id} (pid ${process.pid}) serving`);
});

// The drain: stop accepting, and end each open connection after its next response
// (Connection: close). http.Server's close() would also close idle keep-alive connections at
// once (Node 19+), failing a request a client is sending on one at that moment; net.Server's
// close() only stops accepting. A connection that stays idle ends with keepAliveTimeout.
process.on('SIGTERM', () => {
  console.log(`worker ${id} (pid ${process.pid}) draining`);
  draining = true;
  net.Server.prototype.close.call(server, () => process.exit(0));
});
