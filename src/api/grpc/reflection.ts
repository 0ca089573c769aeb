// Server reflection (grpc.reflection.v1 and v1alpha, from @grpc/reflection), so grpcurl-style tools list
// and call Concord's services without the .proto file. The reflection package reads serialized
// FileDescriptorProtos: Concord's come from the generated protobuf-es file descriptor, the health
// service's from grpc-health-check's own loaded definition. The packages are loaded when a server starts.

import { toBinary } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';
import type { ReflectionService } from '@grpc/reflection';
import { file_concord } from './gen/concord_pb.ts';

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/** `healthService` is grpc-health-check's loaded definition; its messages carry the health file's descriptor. */
export async function addReflection(server: grpc.Server, healthService: Record<string, { requestType: object }>): Promise<void> {
  const [{ ReflectionService }, { FileDescriptorProtoSchema }] = await Promise.all([import('@grpc/reflection'), import('@bufbuild/protobuf/wkt')]);
  const concord = Buffer.from(toBinary(FileDescriptorProtoSchema, file_concord.proto));
  const descriptors = {
    // The reflection package indexes every entry's fileDescriptorProtos; the entry names are not used.
    'concord.v1': { format: 'Protocol Buffer 3 FileDescriptorProto', type: {}, fileDescriptorProtos: [concord] },
    'grpc.health.v1': healthService.Check.requestType,
  } as unknown as PackageDefinition;
  new ReflectionService(descriptors).addToServer(server);
}
