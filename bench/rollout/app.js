// The benchmark's app: a plain Node HTTP server on process.env.PORT, nothing else to learn.
// It runs unchanged under a Node cluster primary (boot.js, PM2, baton --node-cluster).
//
// Draining, so every contender can stop it without failing a request:
// - SIGTERM (boot.js's kill timer, baton's stop sequence) and SIGINT (PM2's default stop
//   signal): stop accepting, answer what is in flight with `Connection: close`, exit 0 once
//   the last connection is gone;
// - `disconnect` of the cluster channel: the cluster worker has already closed its servers
//   and waited for their connections by then, so all that is left is to leave.
'use strict';
const http = require('http');

let draining = false;
const server = http.createServer((req, res) => {
  if (draining) res.setHeader('Connection', 'close');
  res.end('hello\n');
});
server.listen(process.env.PORT);

function drain() {
  if (draining) return;
  draining = true;
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('disconnect', () => process.exit(0));
