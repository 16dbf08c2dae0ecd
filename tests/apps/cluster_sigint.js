// A Node app that drains itself on SIGINT, as apps written for PM2 do: stop accepting, end
// each open connection after its next response, exit 0. Under baton --node-cluster with
// --drain-signal INT, baton's stop sequence signals it instead of sending the cluster
// `disconnect`.
'use strict';
const http = require('http');
const net = require('net');

let draining = false;
const server = http.createServer((req, res) => {
  if (draining) res.setHeader('Connection', 'close');
  res.end('ok\n');
});
server.listen(process.env.PORT);

process.on('SIGINT', () => {
  console.log(`worker ${process.pid} drains on SIGINT`);
  draining = true;
  net.Server.prototype.close.call(server, () => process.exit(0));
});
