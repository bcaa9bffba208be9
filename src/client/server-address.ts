/** The address a local client dials for a server bound to `host` (undefined = loopback). */
export function dialAddress(host: string | undefined, port: number): string {
  const bare = host?.replace(/^\[|\]$/g, '');
  if (bare === undefined || bare === '0.0.0.0' || bare === 'localhost') return `127.0.0.1:${port}`;
  if (bare === '::') return `[::1]:${port}`;
  return bare.includes(':') ? `[${bare}]:${port}` : `${bare}:${port}`;
}
