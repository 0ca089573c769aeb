// Push-pull anti-entropy: two members swap their full member lists over TCP — on join, and
// periodically with a random member — so anything gossip missed still converges.

import type { MemberRecord } from './member-table.ts';
import type { MemberNews, MemberSnapshot } from './types.ts';

export function snapshotOf(records: Iterable<MemberRecord>): MemberSnapshot[] {
  return [...records].map((r) => ({ id: r.id, address: r.address, incarnation: r.incarnation, state: r.state, meta: r.meta }));
}

/**
 * A remote view, restated as the gossip messages that carry the same news, so it goes through exactly
 * the same incarnation rules. A member the remote believes dead is only suspected here, on the word of
 * `senderId`: it gets a suspicion timeout and the chance to refute, as in memberlist (which attributes
 * it to the receiver instead — an echo that can come back to the original accuser as a confirmation).
 */
export function snapshotAsMessages(snapshot: readonly MemberSnapshot[], senderId: string): MemberNews[] {
  return snapshot.map((s): MemberNews => {
    switch (s.state) {
      case 'alive':
        return { type: 'alive', id: s.id, address: s.address, incarnation: s.incarnation, meta: s.meta };
      case 'left':
        return { type: 'dead', id: s.id, incarnation: s.incarnation, from: s.id };
      case 'dead':
      case 'suspect':
        return { type: 'suspect', id: s.id, incarnation: s.incarnation, from: senderId };
    }
  });
}
