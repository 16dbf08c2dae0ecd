// Keep-alive clients that pause between requests, to count what a drain that closes idle
// connections costs them. Each of CONNS clients sends GET / on its connection, waits for the
// whole response, pauses a random 0..MAX_MS ms and sends again; a connection the server ends
// while no request is outstanding is reopened (nothing lost), one that ends or is reset while
// a request is outstanding has lost that request.
//
//   node idle_clients.js PORT SECONDS [CONNS=64] [MAX_MS=3000]
//
// Run it against `baton -w 2 --node-cluster -- node app.js` and send baton SIGHUPs meanwhile.
// Prints one JSON line: requests sent, answered, lost, and connections closed while idle.
'use strict';
const net = require('net');

const port = +process.argv[2];
const seconds = +process.argv[3];
const conns = +process.argv[4] || 64;
const maxPause = +process.argv[5] || 3000;
const end = Date.now() + seconds * 1000;
const count = { sent: 0, answered: 0, lost: 0, closedIdle: 0, refused: 0 };

function client() {
  if (Date.now() > end)
    return;
  const socket = net.connect(port, '127.0.0.1');
  let outstanding = false, told = false, buf = '', timer = null;

  function send() {
    if (Date.now() > end)
      return socket.destroy();
    outstanding = true;
    buf = '';
    count.sent++;
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  }
  socket.setNoDelay(true);
  socket.on('connect', send);
  socket.on('data', (data) => {
    buf += data;
    const head = buf.indexOf('\r\n\r\n');
    const length = /content-length: (\d+)/i.exec(buf);
    if (head < 0 || !length || buf.length < head + 4 + +length[1])
      return;
    count.answered++;
    outstanding = false;
    // Told to go: the server closes this connection, and the next request goes on a new one.
    told = /connection: close/i.test(buf.slice(0, head));
    if (!told)
      timer = setTimeout(send, Math.random() * maxPause);
  });
  socket.on('error', (err) => {
    if (err.code === 'ECONNREFUSED')
      count.refused++;
  });
  socket.on('close', () => {
    clearTimeout(timer);
    if (outstanding)
      count.lost++;
    else if (!told)
      count.closedIdle++;
    setImmediate(client);
  });
}

for (let i = 0; i < conns; i++)
  client();
setTimeout(() => {
  console.log(JSON.stringify(count));
  process.exit(0);
}, seconds * 1000 + 3000);
