// The replicated key-value state machine: applies committed commands to the LMDB store. Revision of a
// write = the Raft index of the entry that made it, so every replica computes the same revisions and
// the same precondition outcomes.

import { EntryType, type Entry, type Snapshot } from '../raft/types.ts';
import type { StateMachine } from '../cluster/raft-group.ts';
import { LARGE_VALUE_BYTES, type KvStore, type KvTx } from '../storage/kv-store.ts';
import { decodeCommand, type Command, type CommandResult, type Envelope } from './commands.ts';

/** What apply() hands back: each applied entry's result, by index, with the node and sequence number that proposed it. */
type Applied = Awaited<ReturnType<StateMachine['apply']>>;

export class KvStateMachine implements StateMachine {
  /** Called for every applied membership change (the node keeps peer addresses from them). */
  onConfChange: (e: Entry) => void = () => {};

  constructor(readonly store: KvStore) {}

  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  async apply(entries: Entry[]): Promise<Applied> {
    // One LMDB transaction for the whole batch; each entry still records its own index. Synchronous
    // (cheapest) unless the batch may hold a large value, whose copies must not block the event loop.
    const out: Applied = new Map();
    let large = false;
    const items = entries.map((e) => {
      if (e.type === EntryType.ConfChange) this.onConfChange(e);
      if (e.type !== EntryType.Normal || e.data.byteLength === 0) return { index: e.index, fn: nothingToApply };
      if (e.data.byteLength >= LARGE_VALUE_BYTES) large = true;
      return { index: e.index, fn: commandApplier(decodeCommand(e.data), e.index, out) };
    });
    if (large) await this.store.applyAllAsync(items);
    else this.store.applyAllSync(items);
    return out;
  }

  async restore(snapshot: Snapshot): Promise<void> {
    await this.store.importSnapshot([snapshot.data], snapshot.meta.index);
  }
}

const nothingToApply = (): undefined => undefined;

/**
 * The entry's write, as a closure returned from a function rather than written inline as `fn: (tx) =>`:
 * tsx compiles with esbuild's keepNames, which wraps every closure created in a naming position in an
 * Object.defineProperty call for its name, and that was 1-1.7% of each node's CPU under puts (perf).
 */
function commandApplier(env: Envelope, index: number, out: Applied): (tx: KvTx) => CommandResult {
  return (tx) => {
    const result = execute(tx, env.c, index);
    out.set(index, { node: env.n, seq: env.s, result });
    return result;
  };
}

function execute(tx: KvTx, c: Command, revision: number): CommandResult {
  switch (c.t) {
    case 'put': {
      const cur = tx.get(c.key);
      if (c.ifNoneMatch && cur) return { ok: false, reason: 'precondition-failed', revision };
      if (c.ifMatch !== undefined && (cur?.modRevision ?? 0) !== c.ifMatch) return { ok: false, reason: 'precondition-failed', revision };
      tx.put(c.key, c.value, { expiresAt: c.expiresAt });
      return { ok: true, revision };
    }
    case 'del': {
      const cur = tx.get(c.key);
      if (c.ifMatch !== undefined && (cur?.modRevision ?? 0) !== c.ifMatch) return { ok: false, reason: 'precondition-failed', revision };
      if (!cur) return { ok: false, reason: 'not-found', revision };
      tx.delete(c.key);
      return { ok: true, revision, deleted: 1 };
    }
    case 'batch':
      for (const op of c.ops) {
        if (op.t === 'put') tx.put(op.key, op.value);
        else tx.delete(op.key);
      }
      return { ok: true, revision };
  }
}
