// The gRPC cells' requests for Concord (proto/concord.proto, concord.v1.KV Get/Put) and for etcd
// (bench/proto/etcd-kv.proto, etcd's own etcdserverpb.KV Range/Put), each encoded by a real protobuf
// encoder, and the checks around an h2load run that make its count of HTTP 200s mean calls that
// succeeded: before the run one real call of the same message through grpc-js (grpc-status 0 or it
// throws); after it, the key read back through grpc-js (the value, and for puts a version that grew by
// at least the puts h2load counted) and the DATA received (a message for every answer, see grpc-load.ts).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetRequestSchema, GetResponseSchema, PutRequestSchema } from '../src/api/grpc/gen/concord_pb.ts';
import { fullAnswers, grpcFrame, h2loadAsync, type H2loadResult } from './grpc-load.ts';

export type GrpcOp = 'grpc-put' | 'grpc-lin-get';
export type GrpcSystem = 'concord' | 'etcd';

/** The one key every gRPC request of both systems names (h2load repeats one body); preloaded by the caller. */
export const GRPC_KEY = 'key-0';

export interface Unary {
  path: string;
  message: Uint8Array;
}

interface KvFace {
  request(op: GrpcOp, value: Buffer): Unary;
  /** A linearizable read of GRPC_KEY as a request and its answer's decoder. */
  read: Unary;
  decodeRead(answer: Buffer): { value: Buffer; version: bigint } | undefined;
}

const key = Buffer.from(GRPC_KEY);

const concord: KvFace = {
  request: (op, value) => op === 'grpc-put'
    ? { path: '/concord.v1.KV/Put', message: toBinary(PutRequestSchema, create(PutRequestSchema, { key, value })) }
    // consistency left at its default (UNSPECIFIED): linearizable.
    : { path: '/concord.v1.KV/Get', message: toBinary(GetRequestSchema, create(GetRequestSchema, { key })) },
  get read() {
    return this.request('grpc-lin-get', Buffer.alloc(0));
  },
  decodeRead(answer) {
    const kv = fromBinary(GetResponseSchema, answer).kv;
    return kv ? { value: Buffer.from(kv.value), version: kv.version } : undefined;
  },
};

const etcdDef = protoLoader.loadSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'proto', 'etcd-kv.proto'), { keepCase: true, longs: String, defaults: true });
const etcdKv = etcdDef['etcdserverpb.KV'] as grpc.ServiceDefinition;

interface EtcdRange {
  kvs: { value: Buffer; version: string }[];
}

const etcd: KvFace = {
  request: (op, value) => op === 'grpc-put'
    ? { path: etcdKv.Put.path, message: etcdKv.Put.requestSerialize({ key, value }) }
    // serializable false: etcd's linearizable read.
    : { path: etcdKv.Range.path, message: etcdKv.Range.requestSerialize({ key, serializable: false }) },
  get read() {
    return this.request('grpc-lin-get', Buffer.alloc(0));
  },
  decodeRead(answer) {
    const kv = (etcdKv.Range.responseDeserialize(answer) as EtcdRange).kvs[0];
    return kv ? { value: Buffer.from(kv.value), version: BigInt(kv.version) } : undefined;
  },
};

const FACES: Record<GrpcSystem, KvFace> = { concord, etcd };
const raw = (b: Buffer) => b;

/** The path and encoded message of an operation on GRPC_KEY (a put writes `value`). */
export const grpcRequest = (system: GrpcSystem, op: GrpcOp, value: Buffer): Unary => FACES[system].request(op, value);

/** The value and version in a system's answer to a read of GRPC_KEY; undefined when the key is absent. */
export const decodeRead = (system: GrpcSystem, answer: Buffer) => FACES[system].decodeRead(answer);

/** One unary call with the message's bytes as they are (grpc-js frames them); the answer's bytes. Throws on a non-OK status. */
export async function callRaw(addr: string, u: Unary, timeoutMs = 10_000): Promise<Buffer> {
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(u.path, raw, raw, Buffer.from(u.message), { deadline: Date.now() + timeoutMs }, (err, answer) => {
        if (err) reject(new Error(`${u.path} on ${addr}: gRPC status ${err.code} (${err.details})`));
        else resolve(answer!);
      });
    });
  } finally {
    client.close();
  }
}

async function readKey(system: GrpcSystem, addr: string): Promise<{ value: Buffer; version: bigint }> {
  const face = FACES[system];
  const kv = face.decodeRead(await callRaw(addr, face.read));
  if (!kv) throw new Error(`${system} gRPC: ${GRPC_KEY} not found on ${addr}`);
  return kv;
}

/** A cell's load, in the shape compare.ts runs every cell: warm-up runs, then before(), the measured run, after(). */
export interface GrpcLoad {
  run(seconds: number): Promise<H2loadResult>;
  before(): Promise<void>;
  /** The measured run's result with `errors` raised by what the checks found; throws if the key is wrong. */
  after(r: H2loadResult): Promise<{ r: H2loadResult; problems: string[] }>;
}

/** h2load against one system's gRPC KV at addr (host:port): `conns` connections, one call in flight on each. */
export function grpcLoad(system: GrpcSystem, addr: string, op: GrpcOp, conns: number, value: Buffer): GrpcLoad {
  const u = FACES[system].request(op, value);
  const body = grpcFrame(u.message);
  let answerBytes = 0;
  let versionBefore = 0n;
  return {
    run: (seconds) => h2loadAsync({ addr, path: u.path, body, connections: conns, seconds }),
    async before() {
      versionBefore = (await readKey(system, addr)).version;
      answerBytes = (await callRaw(addr, u)).length;
    },
    async after(r) {
      const problems: string[] = [];
      const kv = await readKey(system, addr);
      if (!kv.value.equals(value)) throw new Error(`${system} gRPC: ${GRPC_KEY} reads back ${kv.value.length} bytes, not the ${value.length}-byte value`);
      let missing = Math.max(0, r.succeeded - fullAnswers(r, answerBytes));
      if (missing > 0) problems.push(`${missing} of ${r.succeeded} answers came without a full message (gRPC errors)`);
      if (op === 'grpc-put') {
        // The probe put counts one; a put h2load gave up on may still have been applied, never the reverse.
        const applied = Number(kv.version - versionBefore) - 1;
        if (applied < r.succeeded) problems.push(`${GRPC_KEY}'s version grew by ${applied} puts, h2load counted ${r.succeeded}`);
        missing = Math.max(missing, r.succeeded - applied);
      }
      return { r: { ...r, errors: r.errors + missing }, problems };
    },
  };
}
