// Running `concord` as a real child process, and a stand-in for a node's HTTP API v1 to point it at.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bin/concord.js');

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** `node bin/concord.js …args`, with CONCORD_SERVER and CONCORD_* server settings removed from the environment. */
export function runCli(args: string[], opts: { input?: Uint8Array | string; env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CONCORD_')));
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdin.end(opts.input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Polls `fn` until it resolves to something truthy; unlike testkit/wait.ts's `until`, a rejection counts as not yet. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Just enough of HTTP API v1 (DESIGN §3) to check what the CLI sends and how it prints each answer. */
export class FakeApi {
  readonly store = new Map<string, { value: Buffer; revision: number }>();
  readonly seen: Seen[] = [];
  revision = 1;
  url = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      this.route(req.method ?? '', new URL(req.url ?? '/', 'http://x'), req.headers, body, res);
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private route(method: string, url: URL, headers: http.IncomingHttpHeaders, body: Buffer, res: http.ServerResponse): void {
    const json = (status: number, v: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    const fail = (status: number, code: string, message: string) => json(status, { error: { code, message } });
    if (url.pathname === '/health') return json(200, { status: 'ok', nodeId: 'n1' });
    if (url.pathname === '/v1/cluster') {
      return json(200, {
        clusterId: 'concord', self: 'n1', leader: 'n1', term: 3,
        nodes: [
          { id: 'n1', raftAddr: '127.0.0.1:7001', httpAddr: '127.0.0.1:8001', role: 'leader', term: 3, commitIndex: 9, appliedIndex: 9, voter: true, reachable: true },
          { id: 'n2', raftAddr: '127.0.0.1:7002', role: 'follower', term: 3, commitIndex: 9, appliedIndex: 8, voter: true, reachable: false },
        ],
        shards: [],
      });
    }
    if (url.pathname === '/v1/kv') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const limit = Number(url.searchParams.get('limit') ?? Infinity);
      const keys = [...this.store.keys()].filter((k) => k.startsWith(prefix)).sort();
      // As the real listing: text, or everything in base64 with encoding=base64 (what src/client asks for).
      const enc = url.searchParams.get('encoding') === 'base64' ? 'base64' : 'utf8';
      const items = keys.slice(0, limit).map((key) => ({ key: Buffer.from(key).toString(enc), value: this.store.get(key)?.value.toString(enc), revision: this.store.get(key)?.revision }));
      return json(200, { items, more: keys.length > items.length });
    }
    const m = /^\/v1\/kv\/(.+)$/.exec(url.pathname);
    if (!m) return fail(404, 'not-found', 'no such route');
    const key = decodeURIComponent(m[1]);
    if (key === 'slow') return; // never answers: the client's --timeout must fire
    if (key === 'unavailable') return fail(503, 'unavailable', 'no leader');
    const cur = this.store.get(key);
    if (method === 'PUT') {
      if (headers['if-none-match'] === '*' && cur) return fail(412, 'precondition-failed', 'key exists');
      if (headers['if-match'] !== undefined && headers['if-match'] !== `"${cur?.revision}"`) return fail(412, 'precondition-failed', 'revision mismatch');
      const revision = ++this.revision;
      this.store.set(key, { value: body, revision });
      return json(200, { revision });
    }
    if (!cur) return fail(404, 'not-found', `key not found`);
    if (method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', etag: `"${cur.revision}"` });
      return void res.end(cur.value);
    }
    if (method === 'DELETE') {
      this.store.delete(key);
      return json(200, { deleted: 1, revision: ++this.revision });
    }
    fail(405, 'method-not-allowed', method);
  }
}
