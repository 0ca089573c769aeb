// The ceiling of any Node HTTP service on this machine: node:http answering a small body.
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const body = Buffer.from('{"revision":1}');
http
  .createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
  })
  .listen(port, '127.0.0.1', () => console.log('listening'));
