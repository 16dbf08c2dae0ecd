// A cluster worker that reports readiness on BATON_READY_FD (--ready fd) once it listens, and
// answers with its pid, so a test can tell whether the same worker lives on.
'use strict';
const fs = require('fs');
require('http').createServer((q, s) => s.end(`pid ${process.pid}\n`))
	.listen(process.env.PORT, () => {
		const fd = Number(process.env.BATON_READY_FD);
		fs.writeSync(fd, '1');
		fs.closeSync(fd);
	});
