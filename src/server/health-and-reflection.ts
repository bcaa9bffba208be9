import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Server } from '@grpc/grpc-js';
import { HealthImplementation, protoPath as healthProto, type ServingStatus } from 'grpc-health-check';

import { DRAW_THINGS_PROTO_FILE, PROTO_FILE, SERVICE_NAME } from '../util/package-root.js';
import { fixUnpackagedNames } from './reflection-names.js';

/** grpc.health.v1 for probes (overall "" and per service) and reflection for grpcurl & co. */
export function addHealthAndReflection(server: Server): { setServing: (serving: boolean) => void } {
  const health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  // Every proto served, so `grpcurl list` shows both contracts and the health service.
  const reflection = new ReflectionService(loadSync([PROTO_FILE, DRAW_THINGS_PROTO_FILE, healthProto], { keepCase: true }));
  fixUnpackagedNames(reflection);
  reflection.addToServer(server);
  return {
    setServing(serving) {
      const value: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', value);
      health.setStatus(SERVICE_NAME, value);
    },
  };
}
