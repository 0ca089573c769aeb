// A group's Raft log in memory, as its WAL records describe it: the entries after the log's offset (their
// data kept as entry-slabs.ts says) and the state they belong to. Folding a group's BASE and the
// operations after it (replay), or applying an operation once it is durable, goes through
// raft-log-state.ts's transition(), whose side effects land here.

import type { Entry } from '../raft/types.ts';
import { transition, type EncodedEntry, type LogOp, type LogState, type LogWriter } from './raft-log-state.ts';
import type { BaseRecord, OpRecord } from './raft-wal-format.ts';
import { EntrySlabs, entryOverheadBytes } from './entry-slabs.ts';

const cost = (e: Entry) => e.data.byteLength + entryOverheadBytes(e.data.byteLength);

export class WalLog {
  /** entries[i] is the entry at state.offset.index + 1 + i. */
  entries: Entry[];
  state: LogState;
  /** What the entries take in memory, by entryOverheadBytes's measure. */
  bytes = 0;
  /** The offset as the writer has it mid-operation (transition() moves it). */
  private offset: number;

  private readonly slabs = new EntrySlabs();

  constructor(
    private readonly group: string,
    state: LogState,
    entries: readonly EncodedEntry[] = [],
    /** Folding records read back from segments (replay): their entries view whole segment reads. */
    private replaying = false,
  ) {
    this.state = state;
    this.entries = entries.map((e) => this.slabs.entry(e, replaying));
    this.offset = state.offset.index;
    for (const e of this.entries) this.bytes += cost(e);
  }

  /** The log a group's latest BASE and the operations after it describe. */
  static replay(group: string, base: BaseRecord, ops: readonly OpRecord[]): WalLog {
    const log = new WalLog(group, base.state, base.entries, true);
    for (const r of ops) {
      if (r.replacesCorrupt) log.state = { ...log.state, snapshot: { ...log.state.snapshot, corrupt: 'replaced by a later record' } };
      log.apply(r.op);
    }
    log.replaying = false;
    return log;
  }

  /** Apply an operation (validated when it was issued, so it cannot fail but for a bug). */
  apply(op: LogOp): LogState {
    this.offset = this.state.offset.index;
    this.state = transition(this.state, op, this.writer);
    return this.state;
  }

  /**
   * After a torn tail was cut: a commit index past the log's end is brought back to it. Returns the
   * commit index before, if it moved.
   */
  clampCommit(): number | undefined {
    const { hardState, lastIndex } = this.state;
    if (hardState.commit <= lastIndex) return undefined;
    this.state = { ...this.state, hardState: { ...hardState, commit: lastIndex } };
    return hardState.commit;
  }

  term(i: number): number {
    const s = this.state;
    return i === s.offset.index ? s.offset.term : this.entries[i - s.offset.index - 1].term;
  }

  /** transition()'s side effects on the entries. */
  private readonly writer: LogWriter = {
    termAt: (s, i) => (i === s.offset.index ? s.offset.term : this.entries[i - this.offset - 1].term),
    putEntry: (e) => {
      const at = e.index - this.offset - 1;
      const entry = this.slabs.entry(e, this.replaying);
      if (at === this.entries.length) this.entries.push(entry);
      else if (at >= 0 && at < this.entries.length) {
        this.bytes -= cost(this.entries[at]);
        this.entries[at] = entry;
      } else throw new Error(`raft log of group ${this.group}: entry ${e.index} does not follow ${this.offset + this.entries.length}`);
      this.bytes += cost(entry);
    },
    deleteEntries: (from, to) => {
      if (from > to) return;
      const lo = from - this.offset - 1;
      const hi = to - this.offset - 1;
      for (let i = Math.max(0, lo); i <= Math.min(hi, this.entries.length - 1); i++) this.bytes -= cost(this.entries[i]);
      if (hi >= this.entries.length - 1) this.entries.length = Math.max(0, lo);
      else if (lo <= 0) this.entries = this.entries.slice(hi + 1);
      else throw new Error(`raft log of group ${this.group}: cannot delete entries ${from}..${to} from the middle`);
    },
    putOffset: (offset) => {
      this.offset = offset.index;
    },
    putHardState: () => {},
    putSnapshot: () => {},
  };
}
