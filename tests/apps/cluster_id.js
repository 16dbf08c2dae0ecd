// Prints what Node's cluster module sees in a worker started by baton --node-cluster,
// then serves like plain.js.
'use strict';
const cluster = require('cluster');
console.log(`isWorker=${cluster.isWorker} id=${cluster.worker && cluster.worker.id} slot=${process.env.BATON_WORKER_ID}`);
require('http').createServer((q, s) => s.end('ok\n')).listen(process.env.PORT);
