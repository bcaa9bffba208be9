/**
 * One line of a service's log as a JSON object, for `logs --json` (JSON Lines): the server writes
 * its own lines as JSON objects, which pass through as they are; anything else (the service
 * manager's "Started …", a crash trace on stderr) becomes {"message": line}.
 */
export function logLineAsJson(line: string): string {
  const trimmed = line.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return trimmed;
    } catch {
      // Not JSON after all: wrapped below.
    }
  }
  return JSON.stringify({ message: line });
}
