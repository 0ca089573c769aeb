// A new group's first state. The initial members are written into the log as committed membership
// entries (term 1, indexes 1..n) rather than into a snapshot at index 0: a member added later that
// replays the log from the start then learns the whole membership history, as etcd does.

import { encodeConfChange } from './conf-change.ts';
import { EntryType, type Entry, type HardState, type NodeId } from './types.ts';

export function bootstrapState(
  voters: NodeId[],
  learners: NodeId[] = [],
  /** The host's description of each member (e.g. its address), carried as each entry's context. */
  contexts: Record<NodeId, string> = {},
): { entries: Entry[]; hardState: HardState } {
  if (voters.length === 0) throw new Error('a new group needs at least one voter');
  const changes = [
    ...voters.map((node) => ({ type: 'addVoter' as const, node, context: contexts[node] })),
    ...learners.map((node) => ({ type: 'addLearner' as const, node, context: contexts[node] })),
  ];
  const entries = changes.map((cc, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(cc) }));
  return { entries, hardState: { term: 1, vote: '', commit: entries.length } };
}
