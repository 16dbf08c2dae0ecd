// baton's drain for Node cluster workers (--node-drain graceful, the default with
// --node-cluster). baton loads it into each worker with NODE_OPTIONS="--import data:...": no
// file is written, so it works on a read-only root and under --user. It changes one thing:
// what a worker does with its open connections when baton drains it.
//
// Node's own drain: the cluster `disconnect` makes the worker call close() on each server,
// and http.Server's close() (Node 19 and later) destroys every idle keep-alive connection
// at once; a client that is sending a request on one at that moment gets a reset. Here,
// once the worker is told to drain, its servers instead:
// - stop accepting (net.Server's close(), which leaves open connections alone);
// - answer the next request on each HTTP/1 connection with `Connection: close`, then close
//   it, and let requests in flight finish, their connection closing after the response;
// - close an HTTP/1 connection that stays idle for IDLE_GRACE_MS;
// - send HTTP/2 sessions a GOAWAY (session.close()): their open streams finish;
// - send WebSocket connections a close frame, 1001 Going Away, and close the connections
//   their clients have not closed IDLE_GRACE_MS later.
// The servers' close callbacks fire once their last connection has ended, and Node's cluster
// code goes on as usual: it closes the channel, and the worker exits when nothing else keeps
// it alive. A worker that something else keeps alive (a timer, a database pool) exits
// EXIT_GRACE_MS after its channel closed. baton's --drain-timeout bounds all of it: SIGTERM
// follows.
//
// Before the drain it costs one wrapper per listening server: nothing is added to a
// request's path but a comparison in the server's emit(), and no listener is added to any
// server (an 'upgrade' listener, for one, would change how Node treats upgrade requests).
// Nothing happens outside a cluster worker: Node removes NODE_UNIQUE_ID from a worker's
// environment, so the processes a worker starts are not workers and are left alone.

// A keep-alive client that is busy sends its next request well within a second; one idle
// for longer is likely to stay idle, and such clients already meet servers closing idle
// connections (Node's own keepAliveTimeout is 5 s). Shorter loses more requests that were
// about to be sent; longer only makes each drain, and so each rollout, slower.
const IDLE_GRACE_MS = 1000;
// How long a worker whose servers are all closed may keep running for its own clean-up
// (its 'disconnect' handlers) before it is made to exit.
const EXIT_GRACE_MS = 1000;
// Each connection's timer, kept on the socket itself.
const kTimer = Symbol('baton drain timer');
// Each connection's idle timer, kept on the socket itself.
if (typeof process.send === 'function') {
  const { default: cluster } = await import('node:cluster');
  if (cluster.isWorker) {
    const { default: net } = await import('node:net');
    install(cluster, net);
  }
}

function install(cluster, net) {
  const netClose = net.Server.prototype.close;
  const listen = net.Server.prototype.listen;
  const watched = new WeakSet();
  let exitArmed = false;

  // Whether the worker has been told to drain: Node's cluster code sets this first, then
  // closes each server (lib/internal/cluster/child.js, _disconnect), on Node 18 to 26.
  const draining = () => cluster.worker && cluster.worker.exitedAfterDisconnect === true;

  net.Server.prototype.listen = function () {
    if (!watched.has(this)) {
      watched.add(this);
      watch(this);
    }
    return Reflect.apply(listen, this, arguments);
  };

  function watch(server) {
    // HTTP/1 connections: the sockets requests arrive on (TLS ones for https); HTTP/2
    // sessions; upgraded WebSocket connections.
    const sockets = new Set();
    const sessions = new Set();
    const websockets = new WeakSet();
    const connectionEvent = typeof server.setSecureContext === 'function'
      ? 'secureConnection' : 'connection';
    const emit = server.emit;
    let drained = false;
    let sessionSeen = null;

    server.emit = function (event, a, b) {
      if (event === connectionEvent) {
        // A connection that became an HTTP/2 session says so during this very emit.
        sessionSeen = null;
        const r = Reflect.apply(emit, this, arguments);
        // (Anything an app emits as a connection by hand is tracked only if it can be.)
        if (sessionSeen === null && a && typeof a.once === 'function' && !a.destroyed) {
          sockets.add(a);
          a.once('close', () => sockets.delete(a));
          if (drained) settle(a);
        }
        return r;
      }
      if (event === 'request' && drained && a.httpVersionMajor === 1) {
        // Before the app's handler: the response says Connection: close, and Node closes
        // the connection once it is sent. (HTTP/2 requests, of an allowHTTP1 server, are
        // their session's business.)
        b.shouldKeepAlive = false;
        clearTimeout(a.socket && a.socket[kTimer]);
      } else if (event === 'session') {
        sessionSeen = a;
        sessions.add(a);
        a.once('close', () => sessions.delete(a));
        if (drained) {
          const r = Reflect.apply(emit, this, arguments);
          a.close();
          return r;
        }
      } else if (event === 'upgrade' && /websocket/i.test(a.headers.upgrade || '')) {
        websockets.add(b);
      }
      return Reflect.apply(emit, this, arguments);
    };

    // The close() that cluster's drain calls, ahead of the class's own.
    Object.defineProperty(server, 'close', {
      configurable: true,
      writable: true,
      value: function close(cb) {
        if (!drained && !draining())
          return Reflect.apply(Object.getPrototypeOf(this).close, this, arguments);
        if (!drained) {
          drained = true;
          for (const session of sessions)
            session.close();
          for (const socket of sockets)
            settle(socket);
          armExit();
        }
        // Stop accepting; cb runs once the last connection has ended. Node's http close()
        // would also stop the timer that enforces headersTimeout and requestTimeout: left
        // running (it is unref'd), it keeps enforcing them on the connections that remain.
        Reflect.apply(netClose, this, arguments);
        return this;
      },
    });

    function settle(socket) {
      const res = socket._httpMessage;
      if (socket.destroyed)
        return;
      if (websockets.has(socket)) {
        // An unmasked close frame, code 1001 (Going Away), unless the server has not
        // answered the upgrade yet.
        if (socket.bytesWritten > 0)
          socket.write(Buffer.from([0x88, 0x02, 0x03, 0xe9]));
        socket[kTimer] = setTimeout(() => socket.destroy(), IDLE_GRACE_MS);
      } else if (!socket.parser) {
        // Upgraded to another protocol, or taken over by the app: its own business.
      } else if (res && !res.finished) {
        if (!res.headersSent)
          res.shouldKeepAlive = false;
        else
          res.once('finish', () => idle(socket));
      } else {
        idle(socket);
      }
    }

    // Closed after the grace unless a request has come, or is coming (bytes have arrived).
    function idle(socket) {
      const read = socket.bytesRead;
      clearTimeout(socket[kTimer]);
      socket[kTimer] = setTimeout(() => {
        const res = socket._httpMessage;
        if (socket.destroyed || (res && !res.finished))
          return;
        if (socket.bytesRead !== read)
          idle(socket);
        else
          socket.destroy();
      }, IDLE_GRACE_MS);
    }
  }

  function armExit() {
    if (exitArmed)
      return;
    exitArmed = true;
    process.once('disconnect', () => {
      setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
    });
  }
}

