// Everything raft/ can read from a Storage, as plain data, so two storages can be compared with
// deepStrictEqual (LMDB-backed vs MemoryStorage, or before vs after a reopen).

import type { Storage } from '../../src/raft/storage.ts';
import { RaftError } from '../../src/raft/types.ts';

export function observe(s: Storage) {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const terms: number[] = [];
  for (let i = first - 1; i <= last; i++) terms.push(s.term(i));
  const snap = s.snapshot();
  return {
    first,
    last,
    initial: s.initialState(),
    terms,
    entries: last >= first ? s.entries(first, last + 1, Infinity).map((e) => ({ ...e, data: Uint8Array.from(e.data) })) : [],
    snapshot: {
      meta: { index: snap.meta.index, term: snap.meta.term, confState: { voters: [...snap.meta.confState.voters], learners: [...snap.meta.confState.learners] } },
      data: Uint8Array.from(snap.data),
    },
    outOfRange: [errorCode(() => s.term(first - 2)), errorCode(() => s.term(last + 1)), errorCode(() => s.entries(first - 1, last + 1, 100))],
  };
}

export function errorCode(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof RaftError ? err.code : `error: ${(err as Error).message}`;
  }
}
