import { execFileSync } from 'node:child_process';

let ldconfigCache: string | undefined;
/** The loader's cache (`ldconfig -p`), read once; ldconfig lives in /sbin, often off a user's PATH. */
export function ldconfigListing(): string {
  if (ldconfigCache !== undefined) return ldconfigCache;
  ldconfigCache = '';
  for (const bin of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    try {
      ldconfigCache = execFileSync(bin, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
      break;
    } catch {
      // try the next place
    }
  }
  return ldconfigCache;
}

/** Where `ldconfig -p` text says the loader finds `library` (e.g. libcudart.so.13), or undefined. */
export function libraryInListing(listing: string, library: string): string | undefined {
  return new RegExp(`^\\s*${library.replace(/\./g, '\\.')} \\(.*\\) => (.+)$`, 'm').exec(listing)?.[1]?.trim();
}
