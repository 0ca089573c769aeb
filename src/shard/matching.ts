// A capacitated assignment of items to agents (shards to members): each item is held by a set of
// distinct agents, each agent holds at most `cap` items, and an item may go only to the agents
// `allowed` names. Placement uses it twice: replicas (any member may hold any shard) and preferred
// leaders (a shard's leader must be one of its replicas).
//
// augment() is the augmenting-path step of max-flow: when no allowed agent with room is free to take
// an item, it shifts items along the shortest chain "a1 takes the item, a1 hands item j1 to a2, …, ak
// has room". Each agent on the chain keeps its load but the last, which gains one, so no capacity is
// exceeded; and if it finds no chain, none exists (a larger assignment is impossible from here).
// Capacity may also come in slots that pass between agents (Room): a full agent gets one from an
// agent that has one, which then hands an item on (or has room without the slot) — the reverse edge
// of a shared pool of capacity, without which the search would miss chains a pool allows.
// Deterministic: agents and items are visited in index and insertion order.

/** Where a chain may end, and capacity slots that may pass between agents. */
export interface Room {
  /** `agent` may take one more item. */
  has(agent: number): boolean;
  /** Agents that could pass `agent` a slot of capacity it lacks; none for plain caps. */
  donors(agent: number): readonly number[];
  /** Passes a slot from `from` to `to`. */
  pass(from: number, to: number): void;
}

/** Marks a chain link that passes a slot instead of an item. */
const SLOT = -1;

export class Matching {
  /** holders[item]: the agents that hold it, in the order they got it. */
  readonly holders: Set<number>[];
  /** held[agent]: the items it holds, in the order it got them. */
  readonly held: Set<number>[];
  /** cap[agent]: the most items the agent may hold; add() does not check it, spare() and augment() do. */
  readonly cap: number[];
  /** Room as the caps alone give it: no slots to pass. */
  readonly capsOnly: Room = { has: (a) => this.spare(a) > 0, donors: () => [], pass: () => {} };

  constructor(
    items: number,
    readonly agents: number,
    private readonly allowed: (item: number, agent: number) => boolean,
  ) {
    this.holders = Array.from({ length: items }, () => new Set<number>());
    this.held = Array.from({ length: agents }, () => new Set<number>());
    this.cap = new Array<number>(agents).fill(0);
  }

  add(item: number, agent: number): void {
    this.holders[item].add(agent);
    this.held[agent].add(item);
  }

  remove(item: number, agent: number): void {
    this.holders[item].delete(agent);
    this.held[agent].delete(item);
  }

  load(agent: number): number {
    return this.held[agent].size;
  }

  spare(agent: number): number {
    return this.cap[agent] - this.held[agent].size;
  }

  /** An agent may take `item`: allowed, and not holding it yet. */
  canTake(item: number, agent: number): boolean {
    return !this.holders[item].has(agent) && this.allowed(item, agent);
  }

  /**
   * Gives `item` one more holder along the shortest chain that ends at an agent with room; returns
   * that agent, or -1 (nothing changed) when no chain exists. Only holdings `movable` accepts are
   * handed over (placement uses it to re-route replicas it placed itself, which costs no extra copy).
   */
  augment(item: number, movable: (item: number, agent: number) => boolean = () => true, room: Room = this.capsOnly): number {
    // via[b] = [a, j]: a hands item j to b (a = -1: b takes `item` itself), or, j = SLOT, b passes a slot to a.
    const via = new Map<number, [number, number]>();
    const queue: number[] = [];
    const reach = (from: number, j: number, to: number): boolean => {
      if (via.has(to) || (j !== SLOT && !this.canTake(j, to))) return false;
      via.set(to, [from, j]);
      queue.push(to);
      return room.has(to);
    };
    for (let b = 0; b < this.agents; b++) if (reach(-1, item, b)) return this.shift(via, b, room);
    for (let head = 0; head < queue.length; head++) {
      const a = queue[head];
      for (const donor of room.donors(a)) if (reach(a, SLOT, donor)) return this.shift(via, donor, room);
      for (const j of this.held[a]) {
        if (j === item || !movable(j, a)) continue;
        for (let b = 0; b < this.agents; b++) if (reach(a, j, b)) return this.shift(via, b, room);
      }
    }
    return -1;
  }

  /** Applies the chain that ends at `last`, from its end back to the agent that takes the item. */
  private shift(via: Map<number, [number, number]>, last: number, room: Room): number {
    for (let to = last; to >= 0; ) {
      const [from, j] = via.get(to)!;
      if (j === SLOT) {
        room.pass(to, from);
      } else {
        if (from >= 0) this.remove(j, from);
        this.add(j, to);
      }
      to = from;
    }
    return last;
  }
}
