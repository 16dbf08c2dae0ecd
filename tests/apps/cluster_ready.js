// A cluster worker that also says when it is ready, as PM2's wait_ready expects.
require('http').createServer((q, s) => s.end('ready ' + require('cluster').worker.id + '\n'))
	.listen(process.env.PORT, () => process.send('ready'));
