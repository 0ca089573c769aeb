// The generated protobuf-es descriptors (gen/concord_pb.ts) as grpc-js service definitions: each method's
// path, streaming shape and codec come from the descriptor, and the codec is protobuf-es's own
// toBinary/fromBinary, so no message is encoded by hand. The same definitions build typed clients.

import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type * as grpc from '@grpc/grpc-js';

/** The method map of a generated service (`MethodsOf<typeof KV>`). */
export type MethodsOf<T> = T extends GenService<infer S> ? S : never;

type Method<S extends GenServiceMethods, K extends keyof S> = S[K];
type In<S extends GenServiceMethods, K extends keyof S> = MessageShape<Method<S, K>['input']>;
type Out<S extends GenServiceMethods, K extends keyof S> = MessageShape<Method<S, K>['output']>;

/**
 * A grpc-js definition of `service`, keyed by the descriptor's local (lowerCamelCase) method names. A
 * server receiving an undecodable request gets a MalformedRequest in its place (see `lenient`).
 */
export type GrpcDefinition<S extends GenServiceMethods> = {
  [K in keyof S]: grpc.MethodDefinition<In<S, K>, Out<S, K>>;
};

/** Server handlers for `service`: a unary handler per unary method, a streaming handler per streaming one. */
export type GrpcHandlers<S extends GenServiceMethods> = {
  [K in keyof S]: S[K]['methodKind'] extends 'server_streaming'
    ? grpc.handleServerStreamingCall<In<S, K>, Out<S, K>>
    : S[K]['methodKind'] extends 'bidi_streaming'
      ? grpc.handleBidiStreamingCall<In<S, K>, Out<S, K>>
      : grpc.handleUnaryCall<In<S, K>, Out<S, K>>;
};

/**
 * What a request that is not a valid message of its type decodes to. grpc-js would answer a throwing
 * decoder with INTERNAL; this lets the handler answer INVALID_ARGUMENT (a bad request) instead.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

function codec<D extends DescMessage>(desc: D): { serialize: (m: MessageShape<D>) => Buffer; deserialize: (b: Buffer) => MessageShape<D> } {
  return {
    serialize: (m) => {
      const bytes = toBinary(desc, m);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    deserialize: (b) => fromBinary(desc, b),
  };
}

function lenient<T>(deserialize: (b: Buffer) => T): (b: Buffer) => T {
  return (b) => {
    try {
      return deserialize(b);
    } catch (e) {
      return new MalformedRequest(e instanceof Error ? e.message : String(e)) as T;
    }
  };
}

export function grpcDefinition<S extends GenServiceMethods>(service: GenService<S>): GrpcDefinition<S> {
  const desc: DescService = service;
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of desc.methods) {
    if (m.methodKind === 'client_streaming') throw new Error(`${desc.typeName}.${m.name}: client streams are not served`);
    const req = codec(m.input);
    const res = codec(m.output);
    def[m.localName] = {
      path: `/${desc.typeName}/${m.name}`,
      originalName: m.name,
      requestStream: m.methodKind === 'bidi_streaming',
      responseStream: m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming',
      requestSerialize: req.serialize as (v: unknown) => Buffer,
      requestDeserialize: lenient(req.deserialize),
      responseSerialize: res.serialize as (v: unknown) => Buffer,
      responseDeserialize: res.deserialize,
    };
  }
  return def as GrpcDefinition<S>;
}
