// JSON schemas shared by the routes: they validate input at the boundary (strictly: no coercion, no
// unknown properties where the contract is ours) and describe every route in the OpenAPI document.

import { MAX_BATCH_OPS } from '../shared/limits.ts';
import { NODE_ID_PATTERN, RAFT_ADDRESS_MAX_LENGTH, RAFT_ADDRESS_PATTERN } from '../shared/membership.ts';

export const errorSchema = {
  type: 'object',
  description: 'Every error, whatever the route',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

/** Error responses every route may give (documented once per route by status class). */
export const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

export const revisionSchema = {
  type: 'object',
  required: ['revision'],
  properties: { revision: { type: 'integer', description: 'Revision (Raft index) at which the write took effect' } },
} as const;

export const deleteResultSchema = {
  type: 'object',
  required: ['deleted', 'revision'],
  properties: { deleted: { type: 'integer' }, revision: { type: 'integer' } },
} as const;

const consistency = {
  type: 'string',
  enum: ['linearizable', 'serializable'],
  description: 'linearizable (default) reads through the leader; serializable reads local state, possibly stale',
} as const;

export const readQuerySchema = {
  type: 'object',
  properties: { consistency },
} as const;

export const putQuerySchema = {
  type: 'object',
  properties: {
    ttl: { type: 'string', pattern: '^[1-9][0-9]{0,9}$', description: 'Expire the key after this many seconds' },
    lease: { type: 'string', pattern: '^[1-9][0-9]{0,15}$', description: 'Attach the key to this lease (not with ttl): its revoke or expiry deletes the key' },
  },
} as const;

const bytesParam = (description: string) => ({ type: 'string', description: `${description} (percent-encoded bytes)` }) as const;

export const listQuerySchema = {
  type: 'object',
  properties: {
    prefix: bytesParam('Only keys starting with these bytes'),
    start: bytesParam('First key, inclusive'),
    end: bytesParam('Last key, exclusive'),
    limit: { type: 'string', pattern: '^(?:[1-9][0-9]{0,3}|10000)$', description: 'Items per page, 1 to 10000 (default 1000)' },
    keys_only: { type: 'string', enum: ['', 'true', 'false', '1', '0'], description: 'Omit values' },
    encoding: { type: 'string', enum: ['utf8', 'base64'], description: 'How keys and values are written (default utf8)' },
    consistency,
  },
} as const;

export const listResultSchema = {
  type: 'object',
  required: ['items', 'more'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'revision'],
        properties: {
          key: { type: 'string' },
          value: { type: 'string', description: 'Absent with keys_only' },
          revision: { type: 'integer', description: 'modRevision' },
          keyEncoding: {
            type: 'string',
            enum: ['base64'],
            description: 'Present only in a text listing, when the key is not valid UTF-8: then `key` is its bytes in base64',
          },
          valueEncoding: {
            type: 'string',
            enum: ['base64'],
            description: 'Present only when values are listed as text and this one is not valid UTF-8: then `value` is its bytes in base64',
          },
        },
      },
    },
    more: {
      type: 'boolean',
      description:
        'More keys follow (the page reached `limit`, or 64 MiB of keys and values): ask again with start = the last key\'s bytes + 0x00, percent-encoded',
    },
  },
} as const;

export const ifMatchHeaderSchema = {
  type: 'string',
  pattern: '^(?:"[0-9]{1,16}"|[0-9]{1,16})$',
  description: 'Compare-and-swap: the key\'s current modRevision, as the ETag gave it',
} as const;

const batchKey = { type: 'string', description: 'UTF-8 text, or base64 when encoding is base64' } as const;

export const batchBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ops'],
  properties: {
    encoding: { type: 'string', enum: ['utf8', 'base64'] },
    ops: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH_OPS,
      items: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['op', 'key', 'value'],
            properties: {
              op: { type: 'string', enum: ['put'] },
              key: batchKey,
              value: batchKey,
              ttl: { type: 'integer', minimum: 1, maximum: 9_999_999_999, description: 'Delete the key after this many seconds (as ?ttl= on a put)' },
              lease: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Attach the key to this lease (as ?lease= on a put; not with ttl)' },
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['op', 'key'],
            properties: { op: { type: 'string', enum: ['delete'] }, key: batchKey },
          },
        ],
      },
    },
  },
} as const;

/** Seed 000/001 bodies: the seeds were lenient about extra fields (serde, encoding/json), so are we. */
export const keyValueBodySchema = {
  type: 'object',
  required: ['key', 'value'],
  properties: { key: { type: 'string' }, value: { type: 'string' } },
} as const;

export const keyBodySchema = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string' } },
} as const;

export const nodeIdSchema = { type: 'string', pattern: NODE_ID_PATTERN } as const;
export const raftAddressSchema = {
  type: 'string',
  maxLength: RAFT_ADDRESS_MAX_LENGTH,
  pattern: RAFT_ADDRESS_PATTERN,
  description: 'Raft peer address, host:port',
} as const;

const nodeStatusSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    raftAddr: { type: 'string' },
    httpAddr: { type: 'string' },
    role: { type: 'string' },
    term: { type: 'integer' },
    commitIndex: { type: 'integer' },
    appliedIndex: { type: 'integer' },
    gossipState: { type: 'string' },
    voter: { type: 'boolean' },
    reachable: { type: 'boolean' },
  },
} as const;

export const clusterStatusSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    clusterId: { type: 'string' },
    self: { type: 'string' },
    leader: { type: ['string', 'null'] },
    term: { type: 'integer' },
    nodes: { type: 'array', items: nodeStatusSchema },
    shards: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: true,
        properties: {
          id: { type: 'string' },
          leader: { type: ['string', 'null'] },
          voters: { type: 'array', items: { type: 'string' } },
          learners: { type: 'array', items: { type: 'string' } },
          term: { type: 'integer' },
          commitIndex: { type: 'integer' },
          appliedIndex: { type: 'integer' },
          following: { type: 'boolean' },
          keys: { type: 'integer' },
          bytes: { type: 'integer' },
        },
      },
    },
  },
} as const;

export const healthSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' }, nodeId: { type: 'string' } },
} as const;

export const metricsResponse = {
  200: {
    description: 'Prometheus text exposition format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  },
  ...errorResponses,
} as const;
