import { lookup } from 'node:dns/promises';
import { AppError } from '../../platform/http/problem.js';
import { classifyAddress } from './target-address.domain.js';
import { parseTargetUrl } from './target-url.domain.js';
import { WebhookErrors } from './webhooks.errors.js';

/** A registration waits this long for DNS before giving up on the name. */
export const TARGET_LOOKUP_TIMEOUT_MS = 5_000;

/** Every address a host name resolves to (A and AAAA). Replaceable in tests. */
export type HostResolver = (host: string) => Promise<string[]>;

export const systemResolver: HostResolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

export interface TargetPolicy {
  allowPrivateTargets: boolean;
  resolve: HostResolver;
}

/**
 * The registration-time wall against SSRF: returns the normalised URL, or throws a 422 problem.
 * Names are resolved and every address must be public, so `localhost` and names pointing inside
 * are refused here. DNS can change afterwards: the delivery agent checks the connected address
 * again on every request, which is the wall that counts.
 */
export async function validateTargetUrl(raw: string, policy: TargetPolicy): Promise<string> {
  const parsed = parseTargetUrl(raw);
  if (!parsed.ok) {
    throw new AppError(WebhookErrors.urlInvalid, `The webhook URL is not acceptable: ${parsed.detail}`, {
      reason: parsed.problem,
    });
  }
  if (policy.allowPrivateTargets) return parsed.href;
  const addresses = parsed.isIpLiteral ? [parsed.host] : await resolveBounded(parsed.host, policy.resolve);
  for (const address of addresses) {
    const addressClass = classifyAddress(address);
    if (addressClass !== 'public') {
      throw new AppError(
        WebhookErrors.urlForbidden,
        `${parsed.host} leads to ${address}, a ${addressClass ?? 'unknown'} address; webhooks go to public addresses only`,
        { host: parsed.host, address_class: addressClass ?? 'unknown' },
      );
    }
  }
  return parsed.href;
}

async function resolveBounded(host: string, resolve: HostResolver): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${TARGET_LOOKUP_TIMEOUT_MS} ms`)),
      TARGET_LOOKUP_TIMEOUT_MS,
    );
  });
  try {
    const addresses = await Promise.race([resolve(host), timeout]);
    if (addresses.length === 0) throw new Error('no addresses');
    return addresses;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new AppError(WebhookErrors.urlUnresolvable, `${host} could not be resolved (${reason})`, { host });
  } finally {
    clearTimeout(timer);
  }
}
