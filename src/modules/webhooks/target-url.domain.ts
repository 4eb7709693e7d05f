import { isIP } from 'node:net';

/** Long enough for any real endpoint with a token in its query; short enough to log and index. */
export const WEBHOOK_URL_LENGTH_MAX = 2048;
const ALLOWED_PROTOCOLS = new Set(['https:', 'http:']);

export type TargetUrlProblem = 'too-long' | 'not-a-url' | 'scheme' | 'credentials' | 'no-host';

export type ParsedTarget =
  | { ok: true; href: string; host: string; isIpLiteral: boolean }
  | { ok: false; problem: TargetUrlProblem; detail: string };

/**
 * The syntactic half of the SSRF rules: http(s) only, no credentials, bounded length. The host is
 * returned bare (IPv6 without brackets) so the caller can classify it or resolve it. `href` is the
 * WHATWG-normalised form that gets stored: odd IPv4 spellings (`0x7f.1`, `2130706433`) are already
 * turned into dotted quads by then, so they cannot slip past the address check.
 */
export function parseTargetUrl(raw: string): ParsedTarget {
  if (raw.length > WEBHOOK_URL_LENGTH_MAX) {
    return { ok: false, problem: 'too-long', detail: `longer than ${WEBHOOK_URL_LENGTH_MAX} characters` };
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, problem: 'not-a-url', detail: 'not an absolute URL' };
  }
  if (!ALLOWED_PROTOCOLS.has(url.protocol)) {
    return { ok: false, problem: 'scheme', detail: `scheme ${url.protocol} is not http or https` };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, problem: 'credentials', detail: 'credentials in the URL are not accepted' };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') return { ok: false, problem: 'no-host', detail: 'the URL has no host' };
  if (url.href.length > WEBHOOK_URL_LENGTH_MAX) {
    return { ok: false, problem: 'too-long', detail: `longer than ${WEBHOOK_URL_LENGTH_MAX} characters` };
  }
  return { ok: true, href: url.href, host, isIpLiteral: isIP(host) !== 0 };
}
