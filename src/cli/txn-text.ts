// `concord txn` reads etcdctl's transaction text: compares, a blank line, the success requests, a blank line,
// the failure requests —
//
//   mod("key1") > "0"
//   value("key2") = "ready"
//
//   put key1 "overwrote key1"
//   get key2
//
//   put key1 "created key1"
//
// A compare is TARGET("KEY") OP "OPERAND", TARGET one of value/val, version/ver, create/c, mod/m, OP one of
// = != > <. A request is put KEY VALUE, get KEY or del KEY. A word may be double-quoted, with JSON's escapes.
// It prints as etcdctl does: SUCCESS or FAILURE, then each request's answer after a blank line.

import type { KeyValue, TxnCompare, TxnOp, TxnRequest, TxnResult } from '../client/index.ts';
import { UsageError } from './errors.ts';
import { jsonValue } from './output.ts';

const TARGETS: Record<string, TxnCompare['target']> = { value: 'value', val: 'value', version: 'version', ver: 'version', create: 'createRevision', c: 'createRevision', mod: 'modRevision', m: 'modRevision' };
const COMPARE = /^(\w+)\(("(?:[^"\\]|\\.)*")\)\s*(=|!=|>|<)\s*("(?:[^"\\]|\\.)*")$/;

export function parseTxnText(text: string): TxnRequest {
  const sections: string[][] = [[]];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      if (sections.length < 3) sections.push([]);
      continue;
    }
    sections[sections.length - 1].push(line);
  }
  const [compares = [], success = [], failure = []] = sections;
  return { compare: compares.map(parseCompare), success: success.map(parseRequest), failure: failure.map(parseRequest) };
}

function unquote(word: string, where: string): string {
  if (!word.startsWith('"')) return word;
  try {
    return JSON.parse(word) as string;
  } catch {
    throw new UsageError(`${where}: ${word} is not a well-formed quoted string`);
  }
}

function parseCompare(line: string): TxnCompare {
  const m = COMPARE.exec(line);
  if (!m) throw new UsageError(`compare ${JSON.stringify(line)}: expected TARGET("KEY") OP "OPERAND", e.g. mod("k") > "0"`);
  const target = TARGETS[m[1]];
  if (!target) throw new UsageError(`compare ${JSON.stringify(line)}: target ${m[1]} is not one of value, version, create, mod`);
  const key = unquote(m[2], 'compare');
  const operand = unquote(m[4], 'compare');
  if (target === 'value') return { key, target, result: m[3] as TxnCompare['result'], operand };
  if (!/^\d+$/.test(operand)) throw new UsageError(`compare ${JSON.stringify(line)}: ${m[1]} compares with a whole number`);
  return { key, target, result: m[3] as TxnCompare['result'], operand: Number(operand) };
}

/** Words separated by blanks; a double-quoted word may hold blanks and JSON escapes. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"(?:[^"\\]|\\.)*"|\S+/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(unquote(m[0], `request ${JSON.stringify(line)}`));
  return out;
}

function parseRequest(line: string): TxnOp {
  const all = words(line);
  const fail = (why: string) => new UsageError(`request ${JSON.stringify(line)}: ${why}`);
  const prefix = all[1] === '--prefix';
  if (prefix && all[0] !== 'del' && all[0] !== 'delete') throw fail('--prefix applies to del only');
  // etcdctl's put --lease=ID (decimal here: Concord's lease ids are the numbers its API gives).
  const leaseText = /^--lease=(.*)$/.exec(all[1] ?? '')?.[1];
  if (leaseText !== undefined && all[0] !== 'put') throw fail('--lease applies to put only');
  if (leaseText !== undefined && !(/^[1-9][0-9]*$/.test(leaseText) && Number.isSafeInteger(Number(leaseText)))) throw fail(`--lease: expected a lease id (got ${JSON.stringify(leaseText)})`);
  const lease = leaseText === undefined ? undefined : Number(leaseText);
  const [verb, key, value, ...rest] = prefix || leaseText !== undefined ? [all[0], ...all.slice(2)] : all;
  if (!key) throw fail('expected put [--lease=ID] KEY VALUE, get KEY, del KEY [END] or del --prefix KEY');
  if (verb === 'del' || verb === 'delete') {
    if (rest.length > 0 || (prefix && value !== undefined)) throw fail('del takes a key and an end of its range, or --prefix and a key');
    return { op: 'delete', key, ...(value !== undefined ? { end: value } : {}), ...(prefix ? { prefix: true } : {}) };
  }
  if (verb === 'put') {
    if (value === undefined || rest.length > 0) throw fail('put takes a key and a value (quote a value with spaces)');
    return { op: 'put', key, value, ...(lease !== undefined ? { lease } : {}) };
  }
  if (value !== undefined) throw fail(`${verb} takes one key`);
  if (verb === 'get') return { op: 'get', key };
  throw fail(`${verb} is not put, get or del`);
}

/** etcdctl's simple output: SUCCESS or FAILURE, then per request OK, the key and value, or the count deleted. */
export function formatTxnText(r: TxnResult): string {
  const parts = [r.succeeded ? 'SUCCESS' : 'FAILURE'];
  for (const x of r.results) {
    if (x.op === 'put') parts.push('OK');
    else if (x.op === 'delete') parts.push(String(x.deleted));
    else parts.push(x.kv ? `${x.kv.key.toString('utf8')}\n${x.kv.value.toString('utf8')}` : '');
  }
  return `${parts.join('\n\n')}\n`;
}

/** The result as JSON: keys and values as text, or base64 marked by keyEncoding / valueEncoding. */
export function txnJson(r: TxnResult): unknown {
  const kv = (k: KeyValue) => {
    const [key, value] = [jsonValue(k.key), jsonValue(k.value)];
    return { key: key.value, value: value.value, revision: k.modRevision, createRevision: k.createRevision, version: k.version, ...(key.encoding ? { keyEncoding: key.encoding } : {}), ...(value.encoding ? { valueEncoding: value.encoding } : {}) };
  };
  return { succeeded: r.succeeded, revision: r.revision, results: r.results.map((x) => (x.op === 'get' ? { op: 'get', kv: x.kv ? kv(x.kv) : null } : x)) };
}
