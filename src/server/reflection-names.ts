import type { ReflectionService } from '@grpc/reflection';

/** The two indexes of @grpc/reflection's implementations that clients look names up in. */
interface ReflectionIndexes {
  services: Record<string, unknown>;
  symbols: Record<string, unknown>;
}

/**
 * @grpc/reflection 1.0 names the symbols of a file without a package with a leading dot
 * (".ImageGenerationService"): `grpcurl list` would show that, and `grpcurl describe
 * ImageGenerationService` would find nothing. The Draw Things contract has no package, so its
 * names are given as gRPC writes them (no dot) in both indexes; the dotted keys stay for the
 * library's own lookups. The indexes are the library's internals, hence the cast.
 */
export function fixUnpackagedNames(reflection: ReflectionService): void {
  const { v1, v1Alpha } = reflection as unknown as { v1: ReflectionIndexes; v1Alpha: ReflectionIndexes };
  for (const implementation of [v1, v1Alpha]) {
    for (const [name, value] of Object.entries(implementation.symbols)) {
      if (name.startsWith('.')) implementation.symbols[name.slice(1)] ??= value;
    }
    for (const [name, value] of Object.entries(implementation.services)) {
      if (!name.startsWith('.')) continue;
      delete implementation.services[name];
      implementation.services[name.slice(1)] = value;
    }
  }
}
