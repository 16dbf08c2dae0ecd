// An HTTP/2 client that keeps its session open after one request, and says on stdout what
// the server does with it: "response 200", "goaway CODE", "close".
'use strict';
const http2 = require('http2');
const session = http2.connect('http://127.0.0.1:' + process.env.PORT);
session.on('goaway', (code) => console.log('goaway ' + code));
session.on('close', () => console.log('close'));
session.on('error', (err) => console.log('error ' + err.code));
const req = session.request({ ':path': '/' });
req.on('response', (headers) => console.log('response ' + headers[':status']));
req.resume();
