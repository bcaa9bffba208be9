/** How much of a client's string a message or log line repeats: enough to recognise it, never megabytes. */
export const QUOTED_INPUT_CHARS = 80;

/**
 * A client-supplied string as it may appear in an error message or a log line: JSON-quoted (so
 * control characters and quotes cannot forge text around it) and cut to a short prefix that says
 * how much was left out. A 20 MB name must not become a 20 MB status message or log line.
 */
export function quoteInput(value: string, maxChars = QUOTED_INPUT_CHARS): string {
  if (value.length <= maxChars) return JSON.stringify(value);
  let prefix = value.slice(0, maxChars);
  // Cut on a code point: a lone high surrogate would print as a replacement character.
  if (/[\uD800-\uDBFF]$/.test(prefix)) prefix = prefix.slice(0, -1);
  return `${JSON.stringify(prefix)}… (${value.length} characters)`;
}
