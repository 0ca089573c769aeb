// Requests for shards this node does not host, forwarded over the peer transport to a node that hosts them,
// and the answering side for requests forwarded here.
//
// The sender picks the shard's replicas from its copy of the shard map, the preferred leader first and
// connected peers before the others. A replica that does not host the shard (the map moved it; the sender's
// copy is behind, or the replica's group is not created yet) answers `moved` with its own map's epoch: the
// sender waits for its copy to reach that epoch and tries the replicas the map then names, at most one
// round of re-routing per epoch. A request that got no answer in time is tried on another replica only if
// it is a read (each try of a read gets half the time left): a write may have been applied, and sending it
// again could apply it twice.

import type { Logger } from 'pino';
import type { BackupSource, KvService } from '../kv/types.ts';
import { fromForwardedError, runForwarded, toForwardedError, type ForwardedError, type ForwardedOp } from '../kv/forwarded.ts';
import type { PeerEnvelope } from '../cluster/peer-envelope.ts';
import { ConcordError } from '../util/errors.ts';
import type { ShardView } from '../cluster/shard-view.ts';
import { BackupCursors, type BackupOp } from '../kv/remote-backup.ts';

/**
 * A key-value operation, a step of fetching the shard's image for a backup (remote-backup.ts), or (`status`)
 * a question how the replica sees the shard, answered with its ShardView.
 */
export type ShardOp = ForwardedOp | BackupOp | { t: 'status' };

const BACKUP_OPS = new Set<ShardOp['t']>(['backupOpen', 'backupNext', 'backupClose']);

export interface ForwardRequest {
  id: number;
  shard: number;
  op: ShardOp;
}

export interface ForwardAnswer {
  id: number;
  ok?: unknown;
  err?: ForwardedError;
  /** The answering node does not host the shard; its map's epoch. */
  moved?: number;
}

export interface ShardCallsOptions {
  self: string;
  send(to: string, env: PeerEnvelope): boolean;
  /** Whether a peer's connection is up (tried first). */
  connected(id: string): boolean;
  /** Shard → its replicas in this node's map, preferred leader first. */
  replicas(shard: number): readonly string[];
  /** This node's map epoch, and a wait (bounded by `ms`) for it to reach `epoch`. */
  epoch(): number;
  waitForEpoch(epoch: number, ms: number): Promise<void>;
  /** The service of a shard this node hosts and runs (able to take a backup image); undefined otherwise. */
  local(shard: number): (KvService & Partial<BackupSource>) | undefined;
  /** How this node's copy of a shard sees it; undefined if it hosts none. */
  view(shard: number): ShardView | undefined;
  /** How long a forwarded call may take in all. */
  timeoutMs: number;
  log: Logger;
}

type Outcome = { ok: unknown } | { err: ForwardedError } | { moved: number } | { unanswered: 'unsent' | 'timeout' };

const READS = new Set<string>(['get', 'getOrStale', 'list', 'listOrStale', 'changes', 'leaseTimeToLive', 'leases']);

export class ShardCalls {
  private nextId = 1;
  private readonly pending = new Map<number, { settle: (o: Outcome) => void; timer: NodeJS.Timeout }>();
  private closed = false;
  /** Images of shards hosted here that other nodes are fetching for backups. */
  private readonly cursors: BackupCursors;
  /** Calls this node forwarded, by how they ended (a metric). */
  readonly counts = { forwarded: 0, moved: 0, failed: 0 };

  constructor(private readonly o: ShardCallsOptions) {
    this.cursors = new BackupCursors(o.self);
  }

  /** Runs `op` on a replica of `shard`; rejects with the replica's error, or unavailable/timeout if none answered. */
  async call(shard: number, op: ForwardedOp | BackupOp): Promise<unknown> {
    const deadline = Date.now() + this.o.timeoutMs;
    const tried = new Set<string>();
    let rerouted = -1;
    this.counts.forwarded++;
    for (;;) {
      const left = deadline - Date.now();
      const to = this.target(shard, tried);
      if (to === undefined || left <= 0) {
        this.counts.failed++;
        if (left <= 0) throw new ConcordError('timeout', `no replica of shard ${shard} answered within ${this.o.timeoutMs} ms`);
        throw new ConcordError('unavailable', `no replica of shard ${shard} could take the request (tried ${[...tried].join(', ') || 'none: the shard map names no other member'})`, 1);
      }
      tried.add(to);
      // A read leaves itself time for another replica if this one does not answer.
      const out = await this.once(to, shard, op, READS.has(op.t) ? Math.max(1, left / 2) : left);
      if ('ok' in out) return out.ok;
      if ('err' in out) throw fromForwardedError(out.err);
      if ('moved' in out) {
        this.counts.moved++;
        if (out.moved > this.o.epoch() && out.moved !== rerouted) {
          rerouted = out.moved;
          await this.o.waitForEpoch(out.moved, deadline - Date.now());
          tried.clear();
        }
        continue;
      }
      if (out.unanswered === 'timeout' && !READS.has(op.t)) {
        this.counts.failed++;
        throw new ConcordError('timeout', `${to} did not answer for shard ${shard} within ${this.o.timeoutMs} ms; the write may or may not have been applied`);
      }
    }
  }

  /** The next replica to try: connected ones first, each in map order. */
  private target(shard: number, tried: ReadonlySet<string>): string | undefined {
    const left = this.o.replicas(shard).filter((id) => id !== this.o.self && !tried.has(id));
    return left.find((id) => this.o.connected(id)) ?? left[0];
  }

  /** Runs `op` on `to` (not another replica): rejects with its error, or if it no longer serves the shard or does not answer in time. */
  async callOn(to: string, shard: number, op: BackupOp): Promise<unknown> {
    const out = await this.once(to, shard, op, this.o.timeoutMs);
    if ('ok' in out) return out.ok;
    if ('err' in out) throw fromForwardedError(out.err);
    if ('moved' in out) throw new ConcordError('unavailable', `${to} no longer serves shard ${shard}; retry`, 1);
    throw new ConcordError('timeout', `${to} did not answer for shard ${shard} within ${this.o.timeoutMs} ms`);
  }

  /** How `to` sees `shard`; undefined if it does not answer within `ms` or hosts no copy. */
  async view(to: string, shard: number, ms: number): Promise<ShardView | undefined> {
    const out = await this.once(to, shard, { t: 'status' }, ms);
    return 'ok' in out ? (out.ok as ShardView) : undefined;
  }

  private once(to: string, shard: number, op: ShardOp, ms: number): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ unanswered: 'unsent' });
    const id = this.nextId++;
    return new Promise<Outcome>((resolve) => {
      const settle = (o: Outcome) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(o);
      };
      const timer = setTimeout(() => settle({ unanswered: 'timeout' }), ms);
      this.pending.set(id, { settle, timer });
      if (!this.o.send(to, { g: '', kq: { id, shard, op } })) settle({ unanswered: 'unsent' });
    });
  }

  /** An answer from a peer. */
  answered(a: ForwardAnswer): void {
    const p = this.pending.get(a.id);
    if (!p) return; // timed out meanwhile
    if (a.err !== undefined) p.settle({ err: a.err });
    else if (a.moved !== undefined) p.settle({ moved: a.moved });
    else p.settle({ ok: a.ok });
  }

  /** A request from a peer: run on the shard's service here, or `moved` if this node does not run the shard. */
  serve(from: string, r: ForwardRequest): void {
    const reply = (a: Omit<ForwardAnswer, 'id'>) => this.o.send(from, { g: '', ks: { id: r.id, ...a } });
    if (r.op?.t === 'status') {
      const view = Number.isInteger(r.shard) && !this.closed ? this.o.view(r.shard) : undefined;
      reply(view ? { ok: view } : { moved: this.o.epoch() });
      return;
    }
    // Shutting down: not run here (its group is about to close and would fail it), so the sender tries another.
    const svc = Number.isInteger(r.shard) && !this.closed ? this.o.local(r.shard) : undefined;
    const op = r.op;
    // An image already open is read on, even if the shard has since moved away (it is a snapshot).
    const cursorStep = op?.t === 'backupNext' || op?.t === 'backupClose';
    if (!svc && !(cursorStep && !this.closed)) {
      reply({ moved: this.o.epoch() });
      return;
    }
    new Promise((resolve) => resolve(BACKUP_OPS.has(op.t) ? this.cursors.run(svc, op as BackupOp) : runForwarded(svc!, op as ForwardedOp))).then(
      (ok) => reply({ ok }),
      (e: unknown) => {
        if (!(e instanceof ConcordError)) this.o.log.error({ err: e, shard: r.shard, op: r.op?.t }, 'a forwarded request failed');
        reply({ err: toForwardedError(e) });
      },
    );
  }

  /** Calls in flight end as unanswered: a read is not tried again (nothing can be sent now), a write reports that it may have been applied. */
  close(): void {
    this.closed = true;
    this.cursors.closeAll();
    for (const p of [...this.pending.values()]) p.settle({ unanswered: 'timeout' });
  }
}
