import { describeDevices, type DeviceSelection } from '../../diffusion/device-probe.js';
import type { WorkerState } from '../../engine/worker-slot.js';
import type { EchoRequest, EchoResponse } from '../../generated/image_generation.js';
import { PACKAGE_VERSION } from '../../util/package-root.js';

/** The seed API's liveness answer, plus (as extensions) the device chosen at start-up and why, and each worker's state. */
export function echo(devices: DeviceSelection, workers: () => WorkerState[]) {
  const reply: Omit<EchoResponse, 'workers'> = { message: 'HELLO', device: devices.chosen, deviceReason: devices.reason, devices: describeDevices(devices), serverVersion: PACKAGE_VERSION };
  return async (_request: EchoRequest): Promise<EchoResponse> => ({ ...reply, workers: workers().map(describeWorker) });
}

/** "worker 0: cuda GPU 0, busy, loaded sd15" */
export function describeWorker(w: WorkerState): string {
  const device = w.device.split(',')[0]!;
  const where = device === 'cpu' ? 'cpu' : `${device} GPU ${w.gpu}`;
  const loaded = w.loadedModels.length > 0 ? `, loaded ${w.loadedModels.map((m) => m.name).join(', ')}` : '';
  return `worker ${w.index}: ${where}, ${w.busy ? 'busy' : 'idle'}${loaded}${w.restarts > 0 ? `, restarted ${w.restarts}×` : ''}`;
}
