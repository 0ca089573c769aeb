// Server reflection (grpc.reflection.v1 and v1alpha, from @grpc/reflection), so grpcurl-style tools list
// and call Concord's services without the .proto file. The reflection package reads serialized
// FileDescriptorProtos: Concord's come from the generated protobuf-es file descriptor, the health
// service's from grpc-health-check's own loaded definition.

import { toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { service as healthService } from 'grpc-health-check';
import { file_concord } from './gen/concord_pb.ts';

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

function descriptorSet(): PackageDefinition {
  const concord = Buffer.from(toBinary(FileDescriptorProtoSchema, file_concord.proto));
  const health = healthService.Check.requestType;
  return {
    // The reflection package indexes every entry's fileDescriptorProtos; the entry names are not used.
    'concord.v1': { format: 'Protocol Buffer 3 FileDescriptorProto', type: {}, fileDescriptorProtos: [concord] },
    'grpc.health.v1': health,
  } as unknown as PackageDefinition;
}

export function addReflection(server: grpc.Server): void {
  new ReflectionService(descriptorSet()).addToServer(server);
}
