import { describeDevices, type DeviceSelection } from '../../diffusion/device-probe.js';
import type { EchoRequest, EchoResponse } from '../../generated/image_generation.js';
import { PACKAGE_VERSION } from '../../util/package-root.js';

/** The seed API's liveness answer, plus (as extensions) the device chosen at start-up and why. */
export function echo(devices: DeviceSelection) {
  const reply: EchoResponse = { message: 'HELLO', device: devices.chosen, deviceReason: devices.reason, devices: describeDevices(devices), serverVersion: PACKAGE_VERSION };
  return async (_request: EchoRequest): Promise<EchoResponse> => reply;
}
