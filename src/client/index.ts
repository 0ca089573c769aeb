// Concord's Node client: `createClient({ endpoints: [...] })`. docs/client.md is the guide.

export { createClient, type ClientOptions, type ConcordClient } from './client.ts';
export { ConcordClientError, type ClientErrorCode, type ServerErrorCode } from './errors.ts';
export type { Protocol } from './endpoints.ts';
export type {
  BatchOp,
  Bytes,
  CallOptions,
  ClusterStatus,
  Consistency,
  DeleteOptions,
  DeleteResult,
  GetOptions,
  Health,
  KeyValue,
  Lease,
  LeaseGrantOptions,
  LeaseInfo,
  ListItem,
  ListOptions,
  ListPage,
  NodeStatus,
  PutOptions,
  TxnCompare,
  TxnOp,
  TxnOpResult,
  TxnRequest,
  TxnResult,
  WatchedRecord,
  WatchEvent,
  WatchOptions,
} from './types.ts';
