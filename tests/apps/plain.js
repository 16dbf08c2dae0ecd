require('http').createServer((q,s)=>s.end('hello from '+(require('cluster').worker?require('cluster').worker.id:'none')+'\n')).listen(process.env.PORT)
