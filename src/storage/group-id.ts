/** Group ids name directories, files and LMDB databases: keep them to a portable alphabet. */
export function assertGroupId(group: string): void {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(group) || group === '.' || group === '..') {
    throw new Error(`invalid group id ${JSON.stringify(group)}: use 1-100 of [A-Za-z0-9_.-]`);
  }
}

/** The Raft groups one node hosts at most (the shards of the largest cluster and the metadata group): its LMDB environment is sized for them. */
export const MAX_GROUPS_PER_NODE = 257;
