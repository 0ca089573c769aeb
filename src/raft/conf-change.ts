// Membership changes travel in the log as ConfChange entries; this is their encoding.

import { ConfChangeType, RaftError, type ConfChange } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TYPES = new Set<string>(Object.values(ConfChangeType));

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const cc = JSON.parse(decoder.decode(data)) as ConfChange;
  if (!TYPES.has(cc.type) || typeof cc.node !== 'string' || cc.node === '') {
    throw new RaftError('invalid', `malformed membership change: ${decoder.decode(data)}`);
  }
  return cc;
}
