// The benchmark's app: a plain Node HTTP server on process.env.PORT, nothing else to learn.
// It runs unchanged under a Node cluster primary (boot.js, PM2, baton --node-cluster).
//
// Draining, so every contender can stop it without failing a request:
// - SIGTERM (boot.js's kill timer, baton's stop sequence) and SIGINT (PM2's default stop
//   signal): stop accepting, answer each open connection's next request with
//   `Connection: close`, exit 0 once the last connection is gone;
// - `disconnect` of the cluster channel: the cluster worker has already closed its servers
//   and waited for their connections by then, so all that is left is to leave.
'use strict';
const http = require('http');
const net = require('net');

let draining = false;
const server = http.createServer((req, res) => {
  if (draining) res.setHeader('Connection', 'close');
  res.end('hello\n');
});
server.listen(process.env.PORT);

// Stop accepting and end each open connection after its next response; net.Server's close()
// does not close idle keep-alive connections under the clients' feet as http.Server's does.
function drain() {
  if (draining) return;
  draining = true;
  net.Server.prototype.close.call(server, () => process.exit(0));
}
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('disconnect', () => process.exit(0));
