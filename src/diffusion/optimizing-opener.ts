/**
 * Opens each model part from its graph optimized for the device it is opened on (made at the
 * first load, then cached beside it; see optimized-graphs.ts), noting what was fused. A graph the
 * device will not open, or whose first run fails where the part's own file runs, costs one detour:
 * the part's own file is used, the reason goes to the load's fallbacks, and the refusal is
 * remembered so later loads skip it. An optimization never costs a model that worked before.
 */
import { deviceError } from './device.js';
import { openedFromRewrite, openOnDevice, type SessionOpener } from './onnx-session.js';
import { optimizedPart, refuseOptimized } from './optimized-graphs.js';

export function optimizingOpener(component: string, fused: Record<string, Record<string, number>>, fallbacks: string[], open: SessionOpener = openOnDevice): SessionOpener {
  return async (file, device, gpu) => {
    const part = optimizedPart(file, device);
    fused[component] = {};
    if (part.file === file) return open(file, device, gpu);
    let session;
    try {
      session = await open(part.file, device, gpu);
    } catch (error) {
      // A device that cannot start (no adapter, no driver) refuses the part's own graph too: that
      // error is the device's, for the caller's fallback, and the optimized graph is not blamed.
      const source = await open(file, device, gpu);
      const reason = deviceError(error);
      fallbacks.push(`${device}: ${component}'s optimized graph would not open (${reason}); using the model's own graph`);
      refuseOptimized(file, device, reason);
      return source;
    }
    fused[component] = part.fused;
    return openedFromRewrite(session, {
      reopenSource: () => open(file, device, gpu),
      sourceRan: (reason) => {
        fused[component] = {};
        refuseOptimized(file, device, reason);
      },
    });
  };
}
