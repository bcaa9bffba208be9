const MIB = 2 ** 20;
const GIB = 2 ** 30;

/**
 * Bytes as a person reads them: GiB from `gibFrom` (1 GiB) up, MiB below, one decimal. Progress
 * lines pass a higher `gibFrom` so the figure keeps moving visibly during a large file.
 */
export function formatBytes(bytes: number, gibFrom = GIB): string {
  return bytes >= gibFrom ? `${(bytes / GIB).toFixed(1)} GiB` : `${(bytes / MIB).toFixed(1)} MiB`;
}
