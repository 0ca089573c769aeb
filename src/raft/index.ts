// The consensus core's public surface.
export { RawNode, type Status } from './node.ts';
export type { RaftConfig, TestingOnlyBugs } from './raft.ts';
export { MemoryStorage, type Storage } from './storage.ts';
export { bootstrapState } from './bootstrap.ts';
export { encodeConfChange, decodeConfChange } from './conf-change.ts';
export * from './types.ts';
