// The nemesis: faults done to real `concord` processes while the clients run, one at a time, each
// recorded as a FaultEvent for the timeline. Network faults go through each node's fault-injection
// route (POST /v1/debug/faults, the transport's seam; nodes run with --fault-injection): a "cut" drops
// everything between two nodes in both directions, which is what a partition does to Raft traffic.

import path from 'node:path';
import { freePort } from '../testkit/ports.ts';
import type { ProcCluster, ProcNode } from '../testkit/processes.ts';
import type { Rng } from '../src/util/prng.ts';
import type { FaultEvent } from './history.ts';

export const FAULT_KINDS = ['kill', 'pause', 'partition', 'isolate-leader', 'bridge', 'membership', 'move-kill', 'isolate-follower'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** What a run does unless told otherwise (isolate-follower is for the weakened run). */
export const DEFAULT_FAULTS: FaultKind[] = ['kill', 'pause', 'partition', 'isolate-leader', 'bridge', 'membership', 'move-kill'];

/** How long move-kill waits for a move to be under way before it kills the new member anyway. */
const MOVE_WAIT_MS = 10_000;

export interface NemesisOptions {
  cluster: ProcCluster;
  rng: Rng;
  faults: FaultKind[];
  now: () => number;
  log: (line: string) => void;
  /** How long a fault holds, ms. */
  holdMs: [number, number];
  /** Quiet time between faults, ms. */
  gapMs: [number, number];
}

export class Nemesis {
  readonly events: FaultEvent[] = [];
  /** Members removed from the cluster: no longer serve clients or final reads. */
  private readonly removed = new Set<string>();
  private nextNodeNumber: number;

  constructor(private readonly o: NemesisOptions) {
    this.nextNodeNumber = o.cluster.nodes.length + 1;
  }

  /** Nodes clients may use: members whose process runs (paused ones included: a client cannot tell). */
  liveMembers(): ProcNode[] {
    return this.o.cluster.nodes.filter((n) => n.proc && !this.removed.has(n.id));
  }

  /** Run faults until `deadline` (ms on the run clock). */
  async run(deadline: number): Promise<void> {
    const { rng } = this.o;
    while (this.o.now() < deadline) {
      await sleep(between(rng, this.o.gapMs));
      if (this.o.now() >= deadline) break;
      const kind = this.o.faults[rng.int(0, this.o.faults.length)];
      const hold = Math.min(between(rng, this.o.holdMs), Math.max(0, deadline - this.o.now()));
      await this.once(kind, hold);
    }
  }

  /** Undo everything: resume paused processes, restart killed ones, clear every fault rule. */
  async healAll(): Promise<void> {
    for (const n of this.liveMembers()) this.o.cluster.resume(n);
    for (const n of this.o.cluster.nodes) if (!n.proc && !this.removed.has(n.id)) this.o.cluster.start(n);
    for (const n of this.liveMembers()) await this.o.cluster.waitHealthy(n, 30_000);
    await Promise.all(this.liveMembers().map((n) => faultRoute(n, { action: 'clear' }).catch(() => undefined)));
  }

  private async once(kind: FaultKind, hold: number): Promise<void> {
    const { cluster, rng } = this.o;
    const members = this.liveMembers();
    const pick = () => members[rng.int(0, members.length)];
    const event: FaultEvent = { startMs: this.o.now(), kind, description: '' };
    const begin = (description: string) => {
      event.description = description;
      event.startMs = this.o.now();
      this.events.push(event);
      this.o.log(`nemesis: ${description}`);
    };
    const end = () => (event.endMs = this.o.now());
    const more = (text: string) => {
      event.description += `; ${text}`;
      this.o.log(`nemesis: ${text}`);
    };
    switch (kind) {
      case 'kill': {
        const victim = pick();
        begin(`kill -9 ${victim.id}, restart after ${Math.round(hold)} ms`);
        await cluster.kill9(victim);
        await sleep(hold);
        cluster.start(victim);
        await cluster.waitHealthy(victim, 30_000);
        end();
        return;
      }
      case 'pause': {
        const leader = await this.leader();
        const coin = rng.next(); // drawn either way, so the schedule does not depend on timing
        const victim = leader && coin < 0.5 ? leader : pick();
        begin(`SIGSTOP ${victim.id} for ${Math.round(hold)} ms`);
        cluster.pause(victim);
        await sleep(hold);
        cluster.resume(victim);
        end();
        return;
      }
      case 'partition': {
        const shuffled = shuffle(rng, members);
        const minority = shuffled.slice(0, Math.floor(members.length / 2));
        const majority = shuffled.slice(minority.length);
        begin(`partition ${ids(minority)} | ${ids(majority)} for ${Math.round(hold)} ms`);
        await this.cutBetween(minority, majority);
        break;
      }
      case 'isolate-leader':
      case 'isolate-follower': {
        const leader = await this.leader();
        const victim = kind === 'isolate-leader' ? leader : members.find((n) => n !== leader);
        if (!victim) return;
        begin(`isolate ${kind === 'isolate-leader' ? 'the leader' : 'a follower'} ${victim.id} for ${Math.round(hold)} ms`);
        await this.cutBetween([victim], members.filter((n) => n !== victim));
        break;
      }
      case 'bridge': {
        // Two sides that cannot see each other, and one node that sees both (Jepsen's "bridge").
        const shuffled = shuffle(rng, members);
        const bridge = shuffled[0];
        const rest = shuffled.slice(1);
        const left = rest.slice(0, Math.floor(rest.length / 2)), right = rest.slice(left.length);
        begin(`bridge ${ids(left)} | ${bridge.id} | ${ids(right)} for ${Math.round(hold)} ms`);
        await this.cutBetween(left, right);
        break;
      }
      case 'membership':
        await this.replaceMember(pick, begin, end);
        return;
      case 'move-kill': {
        const coin = rng.next(); // drawn either way, so the schedule does not depend on timing
        const added = await this.replaceMember(pick, begin, end, false);
        if (added) await this.killDuringMove(added, coin, hold, more);
        end();
        return;
      }
    }
    await sleep(hold);
    await Promise.all(members.map((n) => faultRoute(n, { action: 'clear' }).catch(() => undefined)));
    end();
  }

  /**
   * Remove a member under load, then add a brand-new empty one in its place; returns the new member if it
   * was added. `ends`: the fault ends here (else the caller ends it).
   */
  private async replaceMember(pick: () => ProcNode, begin: (d: string) => void, end: () => void, ends = true): Promise<ProcNode | undefined> {
    const { cluster } = this.o;
    const leader = await this.leader();
    if (!leader) return;
    const members = this.liveMembers();
    const victim = members.filter((n) => n !== leader)[0] ?? pick();
    // The number is taken only once the removal is done: a refused one leaves no gap in the names.
    const id = `n${this.nextNodeNumber}`;
    begin(`remove ${victim.id}, then add a new member ${id}`);
    const removed = await fetch(`${leader.url}/v1/cluster/nodes/${victim.id}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    if (!removed?.ok) {
      this.o.log(`nemesis: removing ${victim.id} failed (${removed?.status ?? 'no answer'}); it stays a member`);
      if (ends) end();
      return undefined;
    }
    this.nextNodeNumber++;
    this.removed.add(victim.id);
    await cluster.kill9(victim);
    const [raftPort, httpPort] = [await freePort(), await freePort()];
    const node = cluster.add(
      id,
      ['server', '--node-id', id, '--raft-addr', `127.0.0.1:${raftPort}`, '--http-addr', `127.0.0.1:${httpPort}`, '--data-dir', path.join(cluster.dir, id),
        '--no-bootstrap', ...chaosServerFlags()],
      `http://127.0.0.1:${httpPort}`,
    );
    await cluster.waitHealthy(node, 30_000);
    // A 503 (the shards still taking the removal, or a leader change) is asked again until the deadline.
    const deadline = Date.now() + 20_000;
    let added: Response | undefined;
    do {
      added = await fetch(`${leader.url}/v1/cluster/nodes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, address: `127.0.0.1:${raftPort}` }),
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      }).catch(() => undefined);
      if (added?.status !== 503) break;
      await sleep(500);
    } while (Date.now() < deadline);
    this.o.log(`nemesis: added ${id}: ${added?.status ?? 'no answer'}`);
    if (!added?.ok) {
      this.removed.add(id);
      await cluster.kill9(node);
    }
    if (ends) end();
    return added?.ok ? node : undefined;
  }

  /**
   * Once a replica is being moved (a shard with a learner, or one whose move the map has under way),
   * kill -9 the new member that receives it (coin < ½) or the leader of the moving shard that sends it,
   * and restart it after `hold`. With no move seen in time, the new member is killed all the same.
   */
  private async killDuringMove(added: ProcNode, coin: number, hold: number, more: (text: string) => void): Promise<void> {
    const { cluster } = this.o;
    const moving = await this.movingShard(MOVE_WAIT_MS);
    const sender = moving && this.liveMembers().find((n) => n.id === moving.leader);
    const victim = coin < 0.5 || !sender ? added : sender;
    more(`kill -9 ${victim.id} ${moving ? `while shard ${moving.id} moves (leader ${moving.leader ?? 'unknown'})` : `(no move seen in ${MOVE_WAIT_MS} ms)`}, restart after ${Math.round(hold)} ms`);
    await cluster.kill9(victim);
    await sleep(hold);
    cluster.start(victim);
    await cluster.waitHealthy(victim, 30_000);
  }

  /** A shard some member reports moving (a learner in it, or `move: running`), polled until `waitMs`. */
  private async movingShard(waitMs: number): Promise<{ id: string; leader: string | null } | undefined> {
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      for (const n of this.liveMembers()) {
        const status = await fetch(`${n.url}/v1/cluster`, { signal: AbortSignal.timeout(1000) })
          .then((r) => r.json() as Promise<{ shards?: Array<{ id: string; leader: string | null; learners?: string[]; move?: string }> }>)
          .catch(() => undefined);
        const shard = status?.shards?.find((x) => x.move === 'running' || (x.learners?.length ?? 0) > 0);
        if (shard) return { id: shard.id, leader: shard.leader };
      }
      await sleep(100);
    }
    return undefined;
  }

  private async cutBetween(a: ProcNode[], b: ProcNode[]): Promise<void> {
    const calls: Promise<unknown>[] = [];
    for (const x of a) for (const y of b) calls.push(faultRoute(x, { action: 'cut', peer: y.id }), faultRoute(y, { action: 'cut', peer: x.id }));
    await Promise.all(calls.map((c) => c.catch(() => undefined)));
  }

  /** The member most nodes name as leader, asked with a short timeout (a paused node never answers). */
  async leader(): Promise<ProcNode | undefined> {
    const members = this.liveMembers();
    const answers = await Promise.all(
      members.map((n) =>
        fetch(`${n.url}/v1/cluster`, { signal: AbortSignal.timeout(1000) })
          .then((r) => r.json() as Promise<{ leader: string | null }>)
          .then((s) => s.leader, () => null),
      ),
    );
    const named = answers.filter((x): x is string => !!x);
    return members.find((n) => n.id === named[0]);
  }
}

/** Flags every chaos node runs with: the fault route, and a request timeout shorter than the clients'. */
export function chaosServerFlags(): string[] {
  return ['--fault-injection', '--request-timeout-ms', '2000'];
}

function faultRoute(node: ProcNode, body: Record<string, unknown>): Promise<void> {
  return fetch(`${node.url}/v1/debug/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(2000),
  }).then((r) => {
    if (!r.ok) throw new Error(`fault route on ${node.id}: ${r.status}`);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (rng: Rng, [lo, hi]: [number, number]) => lo + rng.next() * (hi - lo);
const ids = (nodes: ProcNode[]) => `{${nodes.map((n) => n.id).join(',')}}`;

function shuffle<T>(rng: Rng, items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
