// A cluster worker that leaves on its own once listening (worker.disconnect() in the worker):
// it closes its server, tells the primary, and exits once the primary acknowledges.
const server = require('http').createServer((q, s) => s.end('bye\n'));
server.listen(process.env.PORT, () => require('cluster').worker.disconnect());
