/** Whether a measured value may be sent: a number that is finite and not negative (NaN, ±Infinity and negatives are dropped). */
export function finite(value: number): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
