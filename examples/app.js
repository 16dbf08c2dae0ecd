// The demo app of `make run`: a plain Node HTTP server that serves on the socket baton
// passes (fd 3, LISTEN_FDS) and drains on SIGTERM.
'use strict';
const http = require('http');

const id = process.env.BATON_WORKER_ID || '?';
const server = http.createServer((req, res) => {
  res.end(`hello from worker ${id} (pid ${process.pid})\n`);
});

server.listen(process.env.LISTEN_FDS ? { fd: 3 } : Number(process.env.PORT || 8080), () => {
  console.log(`worker ${id} (pid ${process.pid}) serving`);
});

process.on('SIGTERM', () => {
  console.log(`worker ${id} (pid ${process.pid}) draining`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
