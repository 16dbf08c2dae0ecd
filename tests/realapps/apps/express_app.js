// An Express 5 app written as the Node docs write a cluster app: the primary forks one worker
// per CPU, each worker listens on PORT. Under `baton --node-cluster` the process is a cluster
// worker already (cluster.isPrimary is false), so baton's pool replaces the fork loop.
'use strict';
const cluster = require('node:cluster');
const os = require('node:os');
const express = require('express');

const port = Number(process.env.PORT) || 3000;

if (cluster.isPrimary) {
  const n = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    console.log(`worker ${worker.process.pid} died (${signal || code})`);
  });
} else {
  const app = express();
  app.get('/', (req, res) => {
    res.send(`hello from worker ${process.pid}\n`);
  });
  app.listen(port, () => console.log(`worker ${process.pid} listening on ${port}`));
}
