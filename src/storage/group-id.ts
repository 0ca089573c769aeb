/** Group ids name directories, files and LMDB databases: keep them to a portable alphabet. */
export function assertGroupId(group: string): void {
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(group) || group === '.' || group === '..') {
    throw new Error(`invalid group id ${JSON.stringify(group)}: use 1-100 of [A-Za-z0-9_.-]`);
  }
}
