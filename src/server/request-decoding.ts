import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { PackageDefinition, ProtobufTypeDefinition } from '@grpc/proto-loader';

/**
 * A request whose bytes did not decode. grpc-js answers INTERNAL "Error deserializing request"
 * for a deserializer that throws, which tells the client neither that the fault is theirs nor
 * where it is; so the deserializer returns this instead and the handler adapter answers
 * INVALID_ARGUMENT with the reason.
 */
export class UndecodableRequest {
  constructor(readonly reason: string) {}
}

/** The whole numbers a JavaScript number holds exactly: the generated decoders refuse the rest. */
const LARGEST = BigInt(Number.MAX_SAFE_INTEGER);
const SMALLEST = -LARGEST;

const SIXTY_FOUR_BIT_VARINTS = new Set(['TYPE_INT64', 'TYPE_UINT64', 'TYPE_SINT64']);

interface DescribedField {
  name: string;
  number: number;
  type: string;
}

/**
 * The service definition with every method's request decoder made to return an UndecodableRequest
 * (naming the field, where one is to blame) instead of throwing. `described` is the same service
 * loaded by proto-loader: it knows the field names the generated code does not keep.
 */
export function withExplainedDecodeErrors<S extends ServiceDefinition>(service: S, described: PackageDefinition, serviceName: string): S {
  const methods = described[serviceName] as unknown as Record<string, { path: string; requestType: ProtobufTypeDefinition }>;
  const byPath = new Map(Object.values(methods).map((method) => [method.path, method.requestType.type as { name: string; field: DescribedField[] }]));
  const wrapped: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(service)) {
    const type = byPath.get(method.path);
    const decode = method.requestDeserialize;
    wrapped[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (error) {
          return new UndecodableRequest(explain(bytes, type, error));
        }
      },
    };
  }
  return wrapped as S;
}

/** Why the bytes did not decode: the 64-bit field out of range, or what the wire reader tripped on. */
function explain(bytes: Buffer, type: { name: string; field: DescribedField[] } | undefined, error: unknown): string {
  const wide = new Map((type?.field ?? []).filter((f) => SIXTY_FOUR_BIT_VARINTS.has(f.type)).map((f) => [f.number, f.name]));
  const reader = new BinaryReader(bytes);
  let name: string | undefined;
  try {
    while (reader.pos < reader.len) {
      name = undefined;
      const [fieldNo, wireType] = reader.tag();
      name = wide.get(fieldNo);
      if (name === undefined || wireType !== WireType.Varint) {
        reader.skip(wireType, fieldNo);
        continue;
      }
      const value = BigInt(reader.int64());
      if (value > LARGEST) return `${name}: ${value} is too large; the largest value accepted is ${LARGEST}`;
      if (value < SMALLEST) return `${name}: ${value} is too small; the smallest value accepted is ${SMALLEST}`;
    }
  } catch (readError) {
    if (name !== undefined) return `${name}: not a 64-bit whole number (${(readError as Error).message})`;
    return `the request is not a valid ${type?.name ?? 'message'} (${(readError as Error).message})`;
  }
  return `the request is not a valid ${type?.name ?? 'message'} (${(error as Error).message})`;
}
