// A plain HTTP/2 (cleartext, prior knowledge) app: every stream gets a short answer.
'use strict';
require('http2').createServer().on('stream', (stream) => {
  stream.respond({ ':status': 200 });
  stream.end('h2 hello\n');
}).listen(process.env.PORT);
