// Settling an assignment: from a start (what each shard is on now), reach one where every shard has
// `width` holders and every member holds ⌊total/N⌋ or ⌈total/N⌉, changing as few holdings as it
// can, with the ring choosing which. Placement settles replicas (width min(R, N), any member may hold
// any shard) and then preferred leaders (width 1, only a replica may lead).
//   1. caps (Caps): ⌊total/N⌋ each, and total mod N slots of one more;
//   2. holes go to the member with room that comes first in the shard's ring order;
//   3. each holding over a cap moves straight to a member with room, choosing the shard whose move
//      agrees best with the ring (receiver early, giver late in its order);
//   4. a hole no member with room may take is filled along an augmenting path (matching.ts): first
//      one that only re-routes holdings this plan made (free), else one through holdings in place —
//      the one case that changes more than the minimum.
// Pure and deterministic: every choice breaks ties by index.

import { Matching, type Room } from './matching.ts';
import { rankOf, type Preferences } from './ring.ts';

/**
 * Caps, as a Room: ⌊total/N⌋ each, and total mod N slots of one more. Members already holding more
 * than ⌊total/N⌋ claim slots first (most first, ties by index), since each slot they miss is one more
 * holding to move; the slots left go to whichever members first need them. A slot, claimed or drawn,
 * may pass to another member along an augmenting chain, so no early choice can make a later hole
 * impossible to fill.
 */
class Caps implements Room {
  private readonly base: number;
  private pool: number;

  constructor(
    private readonly m: Matching,
    total: number,
  ) {
    const n = m.agents;
    this.base = Math.floor(total / n);
    const byLoad = Array.from({ length: n }, (_, i) => i).sort((a, b) => m.load(b) - m.load(a) || a - b);
    const claims = Math.min(total % n, byLoad.filter((a) => m.load(a) > this.base).length);
    byLoad.forEach((a, i) => (m.cap[a] = this.base + (i < claims ? 1 : 0)));
    this.pool = (total % n) - claims;
  }

  /** `member` may take one more: it is under its cap, or may still draw a slot. */
  readonly has = (member: number): boolean => this.m.spare(member) > 0 || (this.pool > 0 && this.m.cap[member] === this.base);

  /** The members holding a slot, when `member` is full, has none, and none is left to draw. */
  donors(member: number): number[] {
    if (this.has(member) || this.m.cap[member] !== this.base) return [];
    return Array.from({ length: this.m.agents }, (_, a) => a).filter((a) => this.m.cap[a] > this.base);
  }

  /** Moves a slot between members, as an augmenting chain does. */
  pass(from: number, to: number): void {
    this.m.cap[from]--;
    this.m.cap[to]++;
  }

  /** Call after `member` took one: draws its slot if that put it over its cap. */
  took(member: number): void {
    if (this.m.spare(member) >= 0) return;
    this.m.cap[member]++;
    this.pool--;
  }
}

/** The member with `room` that may take `shard` and comes first in its ring order, or -1. */
function firstWithRoom(p: Preferences, m: Matching, shard: number, room: (member: number) => boolean): number {
  const n = p.members.length;
  for (let k = 0; k < n; k++) {
    const member = p.order[shard * n + k];
    if (room(member) && m.canTake(shard, member)) return member;
  }
  return -1;
}

/**
 * Fills holes: the member with room first in ring order, else a chain that re-routes only holdings
 * this plan made (`placed`; no extra change). With `mustFill`, a hole left after that takes a chain
 * through holdings in place (each link one more change), and one that cannot be filled throws.
 */
function fillHoles(p: Preferences, m: Matching, width: number, caps: Caps, placed: (shard: number, member: number) => boolean, mustFill: boolean): void {
  for (let s = 0; s < p.shards; s++) {
    while (m.holders[s].size < width) {
      let member = firstWithRoom(p, m, s, caps.has);
      if (member >= 0) m.add(s, member);
      else member = m.augment(s, placed, caps);
      if (member < 0 && mustFill) member = m.augment(s, undefined, caps);
      if (member < 0 && mustFill) throw new Error(`placement: no member can take shard ${s}`);
      if (member < 0) break;
      caps.took(member);
    }
  }
}

/**
 * Moves one holding at a time from a member over its cap to one with room, until none is over. Of
 * all such (shard, giver, receiver), the one whose receiver comes earliest and giver latest in the
 * shard's ring order; ties by shard, giver, receiver. Among replicas one always exists (the giver
 * holds more shards than a member with room, so one is not on that member); a leader may have no
 * such move, and then the giver drops the shard where it ranks last, a hole for fillHoles.
 */
function moveExcess(p: Preferences, m: Matching, caps: Caps): void {
  for (;;) {
    const move = bestMove(p, m, caps);
    if (move !== undefined) {
      const [s, giver, receiver] = move;
      m.remove(s, giver);
      m.add(s, receiver);
      caps.took(receiver);
      continue;
    }
    const over = m.cap.findIndex((_, a) => m.spare(a) < 0);
    if (over < 0) return;
    const worst = [...m.held[over]].sort((a, b) => rankOf(p, b, over) - rankOf(p, a, over) || a - b)[0];
    m.remove(worst, over);
  }
}

/**
 * The direct move that agrees best with the ring: [shard, giver over its cap, receiver with room],
 * lowest (receiver's rank − giver's rank) first, then lowest shard, giver, receiver; none if none.
 * Allocates nothing per candidate: it runs once per move over every holding of every giver.
 */
function bestMove(p: Preferences, m: Matching, caps: Caps): [shard: number, giver: number, receiver: number] | undefined {
  const receivers = m.cap.flatMap((_, a) => (caps.has(a) ? [a] : []));
  let score = Infinity;
  let best: [number, number, number] | undefined;
  for (let giver = 0; giver < m.agents; giver++) {
    if (m.spare(giver) >= 0) continue;
    for (const s of m.held[giver]) {
      for (const receiver of receivers) {
        if (!m.canTake(s, receiver)) continue;
        const v = rankOf(p, s, receiver) - rankOf(p, s, giver);
        // Givers and receivers come in ascending order, so a tie is only won by a lower shard.
        if (v < score || (v === score && s < best![0])) {
          score = v;
          best = [s, giver, receiver];
        }
      }
    }
  }
  return best;
}

/**
 * Settles `m`, which holds `start` (start[s]: the members shard s is on now), so that every shard has
 * `width` holders and every member ⌊S·width/N⌋ or ⌈S·width/N⌉ shards. Throws when the augmenting
 * paths find no way to fill a hole.
 */
export function settle(p: Preferences, m: Matching, start: readonly (readonly number[])[], width: number): void {
  for (const [s, members] of start.entries()) for (const member of members) m.add(s, member);
  const placed = (s: number, member: number): boolean => !start[s].includes(member);
  const caps = new Caps(m, p.shards * width);
  fillHoles(p, m, width, caps, placed, false);
  moveExcess(p, m, caps);
  fillHoles(p, m, width, caps, placed, true);
}
