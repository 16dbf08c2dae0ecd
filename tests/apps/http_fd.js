// A small HTTP app for baton's tests: it serves on the socket baton passes as fd 3
// (LISTEN_FDS) and drains on SIGTERM: it stops accepting, finishes what it has, exits 0.
//
// APP_VERSION_FILE names a file whose content is this worker's "version", read at start:
//   crash    exit 1 at start (a broken deploy)
//   noready  serve, but never report readiness
//   anything else is served back in every response.
// Readiness is reported however baton asked: BATON_READY_FD (--ready fd) or NOTIFY_SOCKET
// (--ready notify, through systemd-notify); with --ready delay there is nothing to do.
'use strict';
const fs = require('fs');
const http = require('http');
const net = require('net');
const { execFileSync } = require('child_process');

const versionFile = process.env.APP_VERSION_FILE;
const version = versionFile ? fs.readFileSync(versionFile, 'utf8').trim() : 'v1';
if (version === 'crash') {
  console.error('app: crashing at start');
  process.exit(1);
}

let draining = false;
const server = http.createServer((req, res) => {
  if (draining) res.setHeader('Connection', 'close');
  res.end(`${version} ${process.env.BATON_WORKER_ID} ${process.pid}\n`);
});

function reportReady() {
  if (version === 'noready') return;
  if (process.env.BATON_READY_FD) {
    const fd = Number(process.env.BATON_READY_FD);
    fs.writeSync(fd, '1');
    fs.closeSync(fd);
  }
  if (process.env.NOTIFY_SOCKET) execFileSync('systemd-notify', ['--ready']);
}

server.listen({ fd: 3 }, reportReady);

// The drain: stop accepting, and let every open connection end after its next response
// (Connection: close) instead of closing idle keep-alive connections under the clients'
// feet: a request already on its way on such a connection would fail. http.Server's own
// close() closes idle connections at once (Node 19+); net.Server's only stops accepting.
// A connection that stays idle is closed by keepAliveTimeout as usual.
process.on('SIGTERM', () => {
  draining = true;
  net.Server.prototype.close.call(server, () => process.exit(0));
});
