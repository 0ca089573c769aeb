// What storage/ throws when what it reads back cannot be trusted.

/** The Raft log is damaged in a way that cannot be repaired by dropping an unacknowledged tail. */
export class CorruptLogError extends Error {
  constructor(
    readonly group: string,
    message: string,
  ) {
    super(message);
    this.name = 'CorruptLogError';
  }
}

/** The stored snapshot's data does not match its checksum: it must be replaced, never used. */
export class CorruptSnapshotError extends Error {
  constructor(
    readonly group: string,
    readonly index: number,
    readonly reason: string,
  ) {
    super(`snapshot data of raft group ${group} at index ${index} is corrupt (${reason}); it must be replaced from the state machine or a peer`);
    this.name = 'CorruptSnapshotError';
  }
}
