// The client commands as a user runs them: real `concord` processes against a stand-in HTTP API, checking
// stdout bytes, the one stderr line on failure, and exit codes (0 ok, 1 failed, 2 usage, 3 not found, 4 unreachable).
import { after, before, describe, it } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import { freePort } from '../../testkit/ports.ts';
import { FakeApi, runCli } from './helpers.ts';

let api: FakeApi;
before(async () => {
  api = await new FakeApi().start();
});
after(async () => api?.stop());

const cli = (...args: string[]) => runCli([...args, '--server', api.url]);
const last = () => api.seen[api.seen.length - 1];

function oneErrorLine(stderr: string, pattern: RegExp): void {
  assert.match(stderr, /^error: [^\n]+\n$/, `one line on stderr, got ${JSON.stringify(stderr)}`);
  assert.match(stderr, pattern);
}

describe('put, get, delete', () => {
  it('put sends the raw value to PUT /v1/kv/{key} and prints the revision', async () => {
    const r = await cli('put', 'greeting', 'Hello, World!');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^OK \(revision \d+\)\n$/);
    assert.equal(last().method, 'PUT');
    assert.equal(last().url, '/v1/kv/greeting');
    assert.equal(last().body.toString(), 'Hello, World!');
  });

  it('get prints exactly the stored bytes when piped (no newline added)', async () => {
    await cli('put', 'k1', 'v1');
    const r = await cli('get', 'k1');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout, Buffer.from('v1'));
    assert.equal(r.stderr, '');
  });

  it('keys are percent-encoded, so any text is one path segment', async () => {
    const key = 'a b/c?d#e%f';
    assert.equal((await cli('put', key, 'x')).code, 0);
    assert.equal(last().url, '/v1/kv/a%20b%2Fc%3Fd%23e%25f');
    assert.deepEqual((await cli('get', key)).stdout, Buffer.from('x'));
  });

  it('put reads binary values from stdin when VALUE is omitted; get --format json shows them as base64', async () => {
    const bytes = Buffer.from([0, 255, 10, 13, 128]);
    const p = await runCli(['put', 'bin', '--server', api.url], { input: bytes });
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(last().body, bytes);
    assert.deepEqual((await cli('get', 'bin')).stdout, bytes);
    const j = JSON.parse((await cli('get', 'bin', '--format', 'json')).stdout.toString());
    assert.deepEqual(j, { key: 'bin', value: bytes.toString('base64'), encoding: 'base64', revision: api.store.get('bin')?.revision });
  });

  it('put --ttl, --if-match and --create-only become ?ttl=, If-Match and If-None-Match', async () => {
    await cli('put', 'cas', 'one');
    const rev = api.store.get('cas')?.revision;
    assert.equal((await cli('put', 'cas', 'two', '--if-match', String(rev), '--ttl', '30')).code, 0);
    assert.equal(last().url, '/v1/kv/cas?ttl=30');
    assert.equal(last().headers['if-match'], `"${rev}"`);
    const stale = await cli('put', 'cas', 'three', '--if-match', String(rev));
    assert.equal(stale.code, 1);
    oneErrorLine(stale.stderr, /precondition failed: revision mismatch \(HTTP 412\)/);
    const exists = await cli('put', 'cas', 'four', '--create-only');
    assert.equal(last().headers['if-none-match'], '*');
    assert.equal(exists.code, 1);
  });

  it('--format json and table for put and get', async () => {
    const p = JSON.parse((await cli('put', 'fmt', 'val', '--format', 'json')).stdout.toString());
    assert.deepEqual(p, { key: 'fmt', revision: api.store.get('fmt')?.revision });
    const g = JSON.parse((await cli('get', 'fmt', '--format', 'json')).stdout.toString());
    assert.deepEqual(g, { key: 'fmt', value: 'val', revision: api.store.get('fmt')?.revision });
    const t = (await cli('get', 'fmt', '--format', 'table')).stdout.toString();
    assert.match(t, /│ key +│ value +│ revision +│/);
    assert.match(t, /│ fmt +│ val +│ \d+ +│/);
    assert.doesNotMatch(t, /\x1b\[/, 'no colour codes');
  });

  it('get and delete of a missing key: "error: key not found: KEY", exit 3', async () => {
    for (const cmd of ['get', 'delete']) {
      const r = await cli(cmd, 'nope');
      assert.equal(r.code, 3);
      assert.equal(r.stdout.length, 0);
      oneErrorLine(r.stderr, /^error: key not found: nope\n$/);
    }
  });

  it('delete removes the key and prints the revision', async () => {
    await cli('put', 'gone', 'soon');
    const r = await cli('delete', 'gone');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^deleted gone \(revision \d+\)\n$/);
    assert.equal(last().method, 'DELETE');
    assert.equal(api.store.has('gone'), false);
  });
});

describe('list, cluster-status, health', () => {
  it('list --prefix --limit queries GET /v1/kv and prints a table; json passes the reply through', async () => {
    for (const k of ['l/a', 'l/b', 'l/c']) await cli('put', k, `value of ${k}`);
    const r = await cli('list', '--prefix', 'l/', '--limit', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(last().url, '/v1/kv?encoding=base64&prefix=l%2F&limit=2');
    const out = r.stdout.toString();
    assert.match(out, /│ l\/a +│ value of l\/a +│/);
    assert.doesNotMatch(out, /l\/c/);
    assert.match(out, /more keys/);
    const j = JSON.parse((await cli('list', '--prefix', 'l/', '--format', 'json')).stdout.toString());
    assert.deepEqual(j.items.map((i: { key: string }) => i.key), ['l/a', 'l/b', 'l/c']);
    assert.equal(j.more, false);
    assert.equal((await cli('list', '--prefix', 'zzz')).stdout.toString(), '(no keys)\n');
  });

  it('cluster-status shows the leader and one row per node', async () => {
    const r = await cli('cluster-status');
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(out, /^cluster concord {2}leader n1 {2}term 3\n/);
    assert.match(out, /│ n1 +│ leader +│ 127\.0\.0\.1:7001 +│ 127\.0\.0\.1:8001 +│ 9 +│ 9 +│ true +│ true +│/);
    assert.match(out, /│ n2 +│ follower +│/);
    assert.equal(JSON.parse((await cli('cluster-status', '--format', 'json')).stdout.toString()).leader, 'n1');
  });

  it('health prints ok and exits 0; --format json shows the reply', async () => {
    const r = await cli('health');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'ok\n');
    assert.deepEqual(JSON.parse((await cli('health', '--format', 'json')).stdout.toString()), { status: 'ok', nodeId: 'n1' });
  });

  it('CONCORD_SERVER picks the server (a bare host:port is http), and client options may precede the command', async () => {
    const host = api.url.replace('http://', '');
    assert.equal((await runCli(['health'], { env: { CONCORD_SERVER: host } })).code, 0);
    assert.equal((await runCli(['--server', api.url, 'health'])).code, 0);
  });
});

describe('failures', { concurrency: true }, () => {
  it('connection refused', async () => {
    const port = await freePort();
    const r = await runCli(['get', 'k', '--server', `http://127.0.0.1:${port}`]);
    assert.equal(r.code, 4);
    oneErrorLine(r.stderr, new RegExp(`^error: cannot reach http://127\\.0\\.0\\.1:${port} \\(connection refused\\)\\n$`));
  });

  it('timeout', async () => {
    // The slow route never answers: the message proves --timeout (not the 10 s default) ended the wait.
    const r = await cli('get', 'slow', '--timeout', '300ms');
    assert.equal(r.code, 4);
    oneErrorLine(r.stderr, /^error: timed out after 300 ms\n$/);
  });

  it('--timeout without a unit is seconds, as seed 003’s users write it', async () => {
    const started = Date.now();
    const r = await cli('get', 'slow', '--timeout', '1');
    assert.equal(r.code, 4);
    oneErrorLine(r.stderr, /^error: timed out after 1000 ms\n$/);
    assert.ok(Date.now() - started >= 1000);
  });

  it('a server error carries the server’s message and status', async () => {
    const r = await cli('put', 'unavailable', 'x');
    assert.equal(r.code, 4);
    oneErrorLine(r.stderr, /^error: unavailable: no leader \(HTTP 503\)\n$/);
  });

  it('usage errors exit 2 with one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['get'], /missing required argument 'key'/],
      [['get', 'k', '--format', 'xml'], /--format: expected json, table, text/],
      [['get', 'k', '--timeout', 'soon'], /--timeout: expected a duration such as 30 \(seconds\), 5s or 500ms/],
      [['list', '--limit', '0'], /--limit: expected a whole number >= 1/],
      [['get', 'k', '--server', 'ftp://x'], /--server: endpoint "ftp:\/\/x": expected http:\/\/, https:\/\/ or grpc:\/\//],
      [['get', 'k', '--server', '127.0.0.1:1,,127.0.0.1:2'], /--server: expected a comma-separated list/],
      [['get', 'k', '--protocol', 'grpc', '--server', 'http://127.0.0.1:1'], /is not a grpc endpoint/],
      [['get', 'k', '--protocol', 'smtp'], /--protocol: expected http or grpc/],
      [['put', 'k', 'v', '--data-dir', 'x'], /unknown option '--data-dir'/],
      [['--data-dir', 'x', 'get', 'k'], /--data-dir is a server flag/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['get', 'k', 'extra'], /too many arguments for 'get'/],
      [['server', 'extra'], /too many arguments for 'server'/],
      [['server', '--http-addr', 'nowhere:port'], /--http-addr: port must be/],
      [['--peers', 'n1=127.0.0.1:7001'], /--node-id is required with --peers/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    for (const [i, [args, pattern]] of cases.entries()) {
      const r = results[i];
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error: [^\n]+\n$/, `${args.join(' ')}: one line, got ${JSON.stringify(r.stderr)}`);
      assert.match(r.stderr, pattern, args.join(' '));
    }
  });
});

describe('help', { concurrency: true }, () => {
  it('concord --help lists the contract’s commands and says which are not yet available', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    const out = r.stdout.toString();
    for (const cmd of ['server', 'dev', 'put', 'get', 'delete', 'list', 'cluster-status', 'health', 'watch', 'backup', 'restore', 'bench']) {
      assert.match(out, new RegExp(`^ {2}${cmd} `, 'm'), cmd);
    }
    assert.match(out, /bench .*\(not yet\s+available\)/s);
    assert.doesNotMatch(out, /watch [^\n]*\(not yet/);
  });

  it('concord server --help lists every seed spelling', async () => {
    const out = (await runCli(['server', '--help'])).stdout.toString();
    for (const flag of ['--name', '--node-id', '--http-addr', '--http-port', '-g, --gossip-addr', '--gossip-join-addr', '--join', '--bind-address', '--raft-addr',
      '--grpc-addr', '--grpc-port', '--text-addr', '--data-dir', '--bootstrap', '--peers', '--config', '--max-value-bytes', '--request-timeout-ms', '--lease-reads', '--log-level']) {
      assert.ok(out.includes(flag), flag);
    }
  });

  it('concord watch refuses --timeout, which would do nothing there (exit 2)', async () => {
    const r = await runCli(['watch', 'app/', '--timeout', '5s']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--timeout does not apply to concord watch/);
  });

  it('reserved commands fail with exit 1', async () => {
    const r = await runCli(['bench']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: concord bench is not yet available\n');
  });

  it('concord gui (seed 004’s GUI client) says where the dashboard will be', async () => {
    const r = await runCli(['gui']);
    assert.equal(r.code, 1);
    oneErrorLine(r.stderr, /^error: concord gui is not yet available: the dashboard will be served by every node at http:\/\/<node HTTP address>\/ui/);
  });
});

describe('the default server', () => {
  // The two defaults are fixed ports by definition: Concord's own 8080 and seed 003's client default 8081.
  const listen = async (port: number, name: string) => {
    const server = http.createServer((_req, res) => res.end(JSON.stringify({ status: 'ok', who: name })));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`port ${port} is in use on this machine; this test needs it free (${String(e)})`)));
      server.listen(port, '127.0.0.1', resolve);
    });
    return server;
  };
  const stop = (s: http.Server) => new Promise((r) => s.close(r));

  it('with no --server and no CONCORD_SERVER, a node on seed 003’s 8081 is reached when nothing listens on 8080', async () => {
    const seed = await listen(8081, 'seed-003');
    try {
      const r = await runCli(['health', '--format', 'json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout.toString()).who, 'seed-003');
    } finally {
      await stop(seed);
    }
  });

  it('Concord’s own 8080 comes first; an explicit --server is never swapped for another', async () => {
    const [own, seed] = [await listen(8080, 'concord'), await listen(8081, 'seed-003')];
    try {
      assert.equal(JSON.parse((await runCli(['health', '--format', 'json'])).stdout.toString()).who, 'concord');
    } finally {
      await stop(own);
    }
    try {
      const r = await runCli(['health', '--server', 'http://127.0.0.1:8080']);
      assert.equal(r.code, 4);
      oneErrorLine(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:8080 \(connection refused\)/);
    } finally {
      await stop(seed);
    }
  });
});
