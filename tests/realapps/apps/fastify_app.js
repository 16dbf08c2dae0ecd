// A Fastify 5 app as its docs write one: no cluster code, fastify.listen({ port }).
'use strict';
const fastify = require('fastify')({ logger: false });

fastify.get('/', async () => ({ hello: 'world', pid: process.pid }));

fastify.listen({ port: Number(process.env.PORT) || 3000, host: process.env.HOST || '127.0.0.1' })
  .then((address) => console.log(`server ${process.pid} listening on ${address}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
