import path from 'node:path';

/**
 * The one containment rule: candidate is root or below it. Only a '..' segment climbs out, so a
 * name such as '..dotdot.txt' (or a folder '..models') is inside.
 */
export function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}
