// A typed @grpc/grpc-js client for tests, built from the same generated descriptors the server uses:
// `call(KV, 'put', {...})` resolves with the response message or rejects with grpc-js's ServiceError.

import { createRequire } from 'node:module';
import path from 'node:path';
import { create, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { grpcDefinition } from '../../src/api/grpc/service-def.ts';

const MAX_MESSAGE = 200 * 1024 * 1024;

export class GrpcTestClient {
  readonly client: grpc.Client;

  /** `options` add to the channel's (e.g. 'grpc.use_local_subchannel_pool': 1 for a connection of its own). */
  constructor(
    readonly address: string,
    options: grpc.ChannelOptions = {},
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
      ...options,
    });
  }

  call<S extends GenServiceMethods, K extends keyof S & string>(
    service: GenService<S>,
    method: K,
    req: MessageInitShape<S[K]['input']>,
    opts: { deadlineMs?: number; metadata?: (md: grpc.Metadata) => void } = {},
  ): Promise<MessageShape<S[K]['output']>> {
    const def = grpcDefinition(service)[method];
    const message = create(service.method[method].input, req) as MessageShape<S[K]['input']>;
    const options: grpc.CallOptions = opts.deadlineMs !== undefined ? { deadline: Date.now() + opts.deadlineMs } : {};
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, message, new grpc.Metadata(), options, (err, res) =>
        err ? reject(err) : resolve(res as MessageShape<S[K]['output']>),
      ),
    );
  }

  /** A server-streaming call: every message until the stream ends, or the error that ends it. */
  stream<S extends GenServiceMethods, K extends keyof S & string>(
    service: GenService<S>,
    method: K,
    req: MessageInitShape<S[K]['input']>,
    opts: { deadlineMs?: number } = {},
  ): Promise<Array<MessageShape<S[K]['output']>>> {
    const def = grpcDefinition(service)[method];
    const message = create(service.method[method].input, req) as MessageShape<S[K]['input']>;
    const out: Array<MessageShape<S[K]['output']>> = [];
    const options: grpc.CallOptions = opts.deadlineMs !== undefined ? { deadline: Date.now() + opts.deadlineMs } : {};
    return new Promise((resolve, reject) => {
      const s = this.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, message, new grpc.Metadata(), options);
      s.on('data', (m) => out.push(m as MessageShape<S[K]['output']>));
      s.on('error', reject);
      s.on('end', () => resolve(out));
    });
  }

  /** grpc.health.v1.Health/Check: the serving status name, or the error. */
  health(service: string): Promise<string> {
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    const c = new Health(this.address, grpc.credentials.createInsecure());
    return new Promise((resolve, reject) =>
      (c as unknown as { Check: (r: object, cb: (e: grpc.ServiceError | null, r?: { status: string }) => void) => void }).Check({ service }, (e, r) => {
        c.close();
        if (e) reject(e);
        else resolve(String(r?.status));
      }),
    );
  }

  /** What grpcurl's `list` asks: the services named by server reflection (grpc.reflection.v1). */
  reflectionServices(): Promise<string[]> {
    return this.reflect({ list_services: '' }).then((r) => (r.list_services_response as { service: Array<{ name: string }> }).service.map((s) => s.name));
  }

  /** One grpc.reflection.v1 request/answer, with a client built from the reflection package's own .proto (as grpcurl carries it). */
  reflect(request: object): Promise<Record<string, unknown>> {
    const protoPath = path.join(path.dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }));
    const Reflection = (pkg.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject;
    const Ctor = (Reflection.v1 as grpc.GrpcObject).ServerReflection as grpc.ServiceClientConstructor;
    const c = new Ctor(this.address, grpc.credentials.createInsecure());
    return new Promise((resolve, reject) => {
      const s = (c as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<object, Record<string, unknown>> }).ServerReflectionInfo();
      s.on('data', (r: Record<string, unknown>) => {
        resolve(r);
        s.end();
        c.close();
      });
      s.on('error', reject);
      s.write(request);
    });
  }

  close(): void {
    this.client.close();
  }
}
