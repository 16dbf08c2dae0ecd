// A server that asks for an IPv6-only socket: listen({host: '::', ipv6Only: true}).
'use strict';
require('http').createServer((q, s) => s.end('v6\n'))
  .listen({ port: +process.env.PORT, host: '::', ipv6Only: true });
