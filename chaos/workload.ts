// The chaos clients: concurrent clients doing put / get / delete / compare-and-swap on a small key set
// through every node, each recording what it sent, when, and what came back (chaos/history.ts).
//
// Every value written is unique in the run ("c3-17": client 3's 17th write), so a compare-and-swap by
// revision (If-Match: "<rev>", the contract's only CAS) can be recorded as a compare by value: the
// client takes the revision from the ETag of a read that returned that value, and only one write ever
// produced that value. Outcomes are recorded conservatively: only answers that prove an operation did
// not happen (a refused connection, a failed precondition) count as 'fail'; a timeout, a reset or a
// 5xx may have been applied, so it is 'unknown' and the checker may place it anywhere after its start.

import type { Operation } from './history.ts';
import type { Rng } from '../src/util/prng.ts';

export interface WorkloadOptions {
  clients: number;
  keys: string[];
  /** Base URLs of the nodes clients may talk to right now (changes as members come and go). */
  nodes: () => Array<{ id: string; url: string }>;
  rng: Rng;
  /** Per-request client timeout; longer than the server's, so most answers are real ones. */
  timeoutMs: number;
  /** Read consistency asked for ('serializable' only for the deliberately weakened run). */
  readConsistency: 'linearizable' | 'serializable';
  /**
   * Share of writes (0..1) whose value is padded to LARGE_PAD bytes (the state machine applies those
   * behind the Ready loop). The padding follows a newline and is stripped from what is read, so the
   * history and the checker see the unique values alone.
   */
  largeValues?: number;
  now: () => number;
}

/** A padded value's size: from 1 MiB on, a batch holding it is applied asynchronously (raft-group.ts). */
const LARGE_PAD = (1 << 20) + 1024;

export class Workload {
  readonly operations: Operation[] = [];
  private nextId = 1;
  private running = false;
  private loops: Promise<void>[] = [];
  /** What each client last read, per key: lets it compare-and-swap on that revision. */
  private readonly lastRead = new Map<string, { value: string; revision: string }>();

  constructor(private readonly o: WorkloadOptions) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.o.clients }, (_, c) => this.clientLoop(c));
  }

  /** Stop issuing operations and wait for the ones in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** One linearizable read of `key` from `node` by a checker-only client (the final reads). */
  async finalRead(client: number, key: string, node: { id: string; url: string }): Promise<Operation> {
    return this.get(client, key, node, 'linearizable');
  }

  private async clientLoop(client: number): Promise<void> {
    let writes = 0;
    while (this.running) {
      const nodes = this.o.nodes();
      if (nodes.length === 0) {
        await sleep(50);
        continue;
      }
      const { rng } = this.o;
      const node = nodes[rng.int(0, nodes.length)];
      const key = this.o.keys[rng.int(0, this.o.keys.length)];
      const roll = rng.next();
      const seen = this.lastRead.get(`${client}/${key}`);
      if (roll < 0.35) await this.put(client, key, `c${client}-${++writes}`, node);
      else if (roll < 0.45) await this.del(client, key, node);
      else if (roll < 0.6 && seen) await this.cas(client, key, seen, `c${client}-${++writes}`, node);
      else await this.get(client, key, node, this.o.readConsistency);
    }
  }

  private begin(client: number, node: string, key: string, kind: Operation['kind'], extra: Partial<Operation> = {}): Operation {
    const op: Operation = { id: this.nextId++, client, node, key, kind, invokeMs: this.o.now(), outcome: 'unknown', ...extra };
    this.operations.push(op);
    return op;
  }

  private finish(op: Operation, outcome: 'ok' | 'fail', result?: string | null): void {
    op.outcome = outcome;
    op.completeMs = this.o.now();
    if (result !== undefined) op.result = result;
  }

  /** A write answered 200: ok, at the revision its answer names. */
  private applied(op: Operation, body: string, result?: string): void {
    this.finish(op, 'ok', result);
    const revision = (JSON.parse(body) as { revision?: unknown }).revision;
    if (typeof revision === 'number') op.revision = revision;
  }

  private async put(client: number, key: string, value: string, node: { id: string; url: string }): Promise<void> {
    const op = this.begin(client, node.id, key, 'put', { value });
    const res = await this.request(`${node.url}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: this.body(value) });
    if (res === 'refused') this.finish(op, 'fail');
    else if (res !== 'lost' && res.status === 200) this.applied(op, res.body);
  }

  private async cas(client: number, key: string, seen: { value: string; revision: string }, value: string, node: { id: string; url: string }): Promise<void> {
    const op = this.begin(client, node.id, key, 'cas', { expected: seen.value, value });
    const res = await this.request(`${node.url}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body: this.body(value), headers: { 'if-match': seen.revision } });
    if (res === 'refused') {
      op.failure = 'refused';
      this.finish(op, 'fail');
    } else if (res !== 'lost' && res.status === 412) this.finish(op, 'fail'); // the compare did not hold
    else if (res !== 'lost' && res.status === 200) this.applied(op, res.body);
  }

  private async del(client: number, key: string, node: { id: string; url: string }): Promise<void> {
    const op = this.begin(client, node.id, key, 'delete');
    const res = await this.request(`${node.url}/v1/kv/${encodeURIComponent(key)}`, { method: 'DELETE' });
    if (res === 'refused') this.finish(op, 'fail');
    else if (res !== 'lost' && res.status === 200) this.applied(op, res.body, 'deleted');
    else if (res !== 'lost' && res.status === 404) this.finish(op, 'ok', null);
  }

  private async get(client: number, key: string, node: { id: string; url: string }, consistency: 'linearizable' | 'serializable'): Promise<Operation> {
    const op = this.begin(client, node.id, key, 'get');
    const res = await this.request(`${node.url}/v1/kv/${encodeURIComponent(key)}?consistency=${consistency}`, { method: 'GET' });
    if (res === 'refused') this.finish(op, 'fail');
    else if (res !== 'lost' && res.status === 200) {
      this.finish(op, 'ok', res.body);
      const revision = res.etag;
      if (revision) this.lastRead.set(`${client}/${key}`, { value: res.body, revision });
    } else if (res !== 'lost' && res.status === 404) {
      this.finish(op, 'ok', null);
      this.lastRead.delete(`${client}/${key}`);
    }
    return op;
  }

  /** What a write of `value` sends: the value, padded to LARGE_PAD bytes for a share of writes. */
  private body(value: string): string {
    const share = this.o.largeValues ?? 0;
    return share > 0 && this.o.rng.next() < share ? `${value}\n${'.'.repeat(LARGE_PAD - value.length - 1)}` : value;
  }

  /** 'refused': never reached a server. 'lost': no answer (it may or may not have been applied). */
  private async request(url: string, init: RequestInit): Promise<{ status: number; body: string; etag: string | null } | 'refused' | 'lost'> {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.o.timeoutMs) });
      const text = await res.text();
      const nl = text.indexOf('\n');
      const body = nl === -1 ? text : text.slice(0, nl); // a padded value's padding (largeValues)
      return { status: res.status, body, etag: res.headers.get('etag') };
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      return code === 'ECONNREFUSED' ? 'refused' : 'lost';
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
