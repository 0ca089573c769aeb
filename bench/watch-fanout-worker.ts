// A child process of watch-fanout.ts: opens COUNT watch streams on one node (Concord's GET /v1/watch as
// server-sent events, or etcd's POST /v3/watch through its gateway, newline-separated JSON), and for every
// event delivered records how long after its put it arrived: each value is the writer's clock at the put
// (performance.timeOrigin + performance.now(), ms), which this process reads on the same machine.
// Reports to its parent over IPC: {opened} once every stream is open, then {events, histogram, cut} when
// asked ('report'), and exits on 'close'.
import http from 'node:http';

const [system, url, countText, prefix] = process.argv.slice(2);
const count = Number(countText);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

/** Delivery latency in 0.1 ms buckets up to 60 s (the last bucket holds everything later). */
const BUCKETS = 600_000;
const histogram = new Uint32Array(BUCKETS);
let events = 0;
let opened = 0;
let cut = 0;
let recording = false;

function delivered(sentAt: number): void {
  if (!recording) return;
  events++;
  const ms = performance.timeOrigin + performance.now() - sentAt;
  histogram[Math.min(BUCKETS - 1, Math.max(0, Math.round(ms * 10)))]++;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
/** The first key after every key starting with `p` (etcd's range_end for a prefix). */
const prefixEnd = (p: string) => Buffer.from([...Buffer.from(p).subarray(0, -1), Buffer.from(p).at(-1)! + 1]);

/** Calls `onBlock` for each piece of the response that ends with `separator`. */
function blocks(res: http.IncomingMessage, separator: string, onBlock: (block: string) => void): void {
  res.setEncoding('utf8');
  let buf = '';
  res.on('data', (chunk: string) => {
    buf += chunk;
    let end: number;
    while ((end = buf.indexOf(separator)) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + separator.length);
      onBlock(block);
    }
  });
}

function openConcord(onOpen: () => void): void {
  let first = true;
  const req = http.request({ host: target.hostname, port: target.port, path: `/v1/watch?prefix=${encodeURIComponent(prefix)}&progress_ms=30000`, agent }, (res) =>
    blocks(res, '\n\n', (block) => {
      if (first && block.includes('event: progress')) {
        first = false;
        onOpen();
      }
      if (block.includes('event: error')) cut++;
      const at = block.indexOf('"value":"');
      if (block.includes('event: put') && at >= 0) delivered(Number(block.slice(at + 9, block.indexOf('"', at + 9))));
    }),
  );
  req.end();
}

function openEtcd(onOpen: () => void): void {
  const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix).toString('base64') } });
  let first = true;
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  const req = http.request({ host: target.hostname, port: target.port, path: '/v3/watch', method: 'POST', agent, headers }, (res) =>
    blocks(res, '\n', (line) => {
      if (!line.trim()) return;
      const msg = JSON.parse(line) as { result?: { created?: boolean; canceled?: boolean; events?: Array<{ kv?: { value?: string } }> } };
      if (first && msg.result?.created) {
        first = false;
        onOpen();
      }
      if (msg.result?.canceled) cut++;
      for (const e of msg.result?.events ?? []) delivered(Number(Buffer.from(e.kv?.value ?? '', 'base64').toString('utf8')));
    }),
  );
  req.end(body);
}

const open = system === 'etcd' ? openEtcd : openConcord;
// Opened a batch at a time: ten thousand connects at once overflow the listener's backlog.
const BATCH = 200;
let started = 0;
const next = () => {
  const stop = Math.min(count, started + BATCH);
  for (; started < stop; started++) {
    open(() => {
      opened++;
      if (opened === count) process.send!({ opened });
      else if (opened % BATCH === 0 && started < count) next();
    });
  }
};
next();

process.on('message', (m: string) => {
  if (m === 'record') {
    recording = true;
    events = 0;
    histogram.fill(0);
  } else if (m === 'report') {
    recording = false;
    process.send!({ events, cut, histogram: Array.from(histogram.entries()).filter(([, n]) => n > 0) });
  } else if (m === 'close') process.exit(0);
});
