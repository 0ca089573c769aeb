// How the shards this node does not host stand, asked of their replicas: for the cluster status (every
// shard's leader, members, keys and move state, whichever node answers) and for the membership gate (the
// metadata group's leader starts a membership change only once every shard has taken the last one, hosted
// here or not).
//
// A shard's view is asked of its replicas in the map's order, connected ones first, and is trusted for the
// gate only when its leader gave it: a lagging follower may still show a configuration its leader has
// moved past. A replica that answers with another replica as leader sends the next question there.

import type { ShardView } from '../cluster/shard-view.ts';

export interface SurveyOptions {
  self: string;
  /** Shard numbers this node does not host, each with its replicas in the map (preferred leader first). */
  elsewhere(): Array<{ shard: number; replicas: readonly string[] }>;
  connected(id: string): boolean;
  ask(to: string, shard: number, ms: number): Promise<ShardView | undefined>;
  /** How long one question may take. */
  askMs: number;
}

export interface SurveyEntry {
  view: ShardView;
  /** Whether the shard's leader gave the view. */
  fromLeader: boolean;
  at: number;
}

export class ShardSurvey {
  private readonly seen = new Map<number, SurveyEntry>();
  /** Questions under way, and when each shard was last asked about. */
  private readonly asking = new Map<number, Promise<void>>();
  private readonly askedAt = new Map<number, number>();

  constructor(private readonly o: SurveyOptions) {}

  /** The last view of a shard, if it is at most `maxAgeMs` old. */
  get(shard: number, maxAgeMs: number, now = Date.now()): SurveyEntry | undefined {
    const e = this.seen.get(shard);
    return e && now - e.at <= maxAgeMs ? e : undefined;
  }

  /** Asks about every shard hosted elsewhere not asked about in the last `maxAgeMs` (one question per shard at a time); settles when they are answered. */
  refresh(maxAgeMs: number): Promise<void> {
    const now = Date.now();
    const waits: Promise<void>[] = [];
    for (const { shard, replicas } of this.o.elsewhere()) {
      let p = this.asking.get(shard);
      if (!p && now - (this.askedAt.get(shard) ?? -Infinity) >= maxAgeMs) {
        this.askedAt.set(shard, now);
        p = this.survey(shard, replicas).finally(() => this.asking.delete(shard));
        this.asking.set(shard, p);
      }
      if (p) waits.push(p);
    }
    return Promise.all(waits).then(() => undefined);
  }

  private async survey(shard: number, replicas: readonly string[]): Promise<void> {
    const order = replicas.filter((id) => id !== this.o.self);
    order.sort((a, b) => Number(this.o.connected(b)) - Number(this.o.connected(a)));
    const asked = new Set<string>();
    let next: string | undefined = order[0];
    let best: SurveyEntry | undefined;
    while (next !== undefined && !asked.has(next)) {
      asked.add(next);
      const view = await this.o.ask(next, shard, this.o.askMs);
      if (view) {
        const fromLeader = view.role === 'leader';
        if (!best || fromLeader) best = { view, fromLeader, at: Date.now() };
        if (fromLeader) break;
      }
      const named = view?.leader ?? undefined;
      next = named !== undefined && named !== this.o.self && !asked.has(named) ? named : order.find((id) => !asked.has(id));
    }
    if (best) this.seen.set(shard, best);
  }
}
