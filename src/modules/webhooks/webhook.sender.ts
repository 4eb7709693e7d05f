import http from 'node:http';
import https from 'node:https';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { classifyAddress } from './target-address.domain.js';

/** Of a failed answer's body, this much is kept for the delivery log; the rest is not read. */
export const RESPONSE_EXCERPT_BYTES_MAX = 512;
/** Open connections per receiver host; keep-alive spares a TLS handshake per delivery. */
const SOCKETS_PER_HOST_MAX = 8;
const USER_AGENT = 'omnistock-webhooks/1';

export interface SendOutcome {
  ok: boolean;
  statusCode: number | null;
  /** Why it failed, for the delivery log; null on success. */
  error: string | null;
}

export interface WebhookSenderOptions {
  timeoutMs: number;
  allowPrivateTargets: boolean;
}

/**
 * POSTs one webhook request. The SSRF wall at delivery time is the connecting agent
 * (request-filtering-agent): it checks the address every connection actually goes to, after DNS,
 * so a name re-pointed at an internal address after registration is still refused. Redirects are
 * never followed — a 3xx is a failed attempt naming its Location — so no hop escapes the check;
 * receivers register their final URL. The timeout bounds the whole exchange.
 */
export class WebhookSender {
  readonly #httpAgent: RequestFilteringHttpAgent;
  readonly #httpsAgent: RequestFilteringHttpsAgent;

  constructor(private readonly options: WebhookSenderOptions) {
    const filtering = {
      allowPrivateIPAddress: options.allowPrivateTargets,
      allowMetaIPAddress: options.allowPrivateTargets,
      keepAlive: true,
      maxSockets: SOCKETS_PER_HOST_MAX,
    };
    this.#httpAgent = new RequestFilteringHttpAgent(filtering);
    this.#httpsAgent = new RequestFilteringHttpsAgent(filtering);
  }

  /** Never throws: whatever goes wrong is the outcome of the attempt. */
  async send(url: string, body: string, headers: Readonly<Record<string, string>>): Promise<SendOutcome> {
    try {
      return await this.#post(new URL(url), body, headers);
    } catch (error) {
      return {
        ok: false,
        statusCode: null,
        error: errorText(error instanceof Error ? error : new Error(String(error))),
      };
    }
  }

  async #post(target: URL, body: string, headers: Readonly<Record<string, string>>): Promise<SendOutcome> {
    const literal = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const literalClass = classifyAddress(literal);
    // The agent checks literals too; this keeps our own, stricter list in force for them.
    if (!this.options.allowPrivateTargets && literalClass !== undefined && literalClass !== 'public') {
      return { ok: false, statusCode: null, error: `refused: ${literal} is a ${literalClass} address` };
    }
    const secure = target.protocol === 'https:';
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: SendOutcome) => {
        if (settled) return;
        settled = true;
        resolve(outcome);
      };
      const request = (secure ? https : http).request(
        target,
        {
          method: 'POST',
          agent: secure ? this.#httpsAgent : this.#httpAgent,
          signal: AbortSignal.timeout(this.options.timeoutMs),
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            'user-agent': USER_AGENT,
          },
        },
        (response) => {
          const statusCode = response.statusCode ?? 0;
          if (statusCode >= 200 && statusCode < 300) {
            // The body of a success means nothing to us; drain it so the socket can be reused.
            response.resume();
            response.on('end', () => settle({ ok: true, statusCode, error: null }));
            response.on('error', () => settle({ ok: true, statusCode, error: null }));
            return;
          }
          const chunks: Buffer[] = [];
          let kept = 0;
          const finish = () => {
            const excerpt = Buffer.concat(chunks).toString('utf8').slice(0, RESPONSE_EXCERPT_BYTES_MAX);
            settle({ ok: false, statusCode, error: describeFailure(statusCode, response.headers, excerpt) });
          };
          response.on('data', (chunk: Buffer) => {
            if (kept >= RESPONSE_EXCERPT_BYTES_MAX) {
              response.destroy();
              finish();
              return;
            }
            chunks.push(chunk);
            kept += chunk.length;
          });
          response.on('end', finish);
          response.on('error', finish);
        },
      );
      request.on('error', (error) => settle({ ok: false, statusCode: null, error: errorText(error) }));
      request.end(body);
    });
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}

function describeFailure(statusCode: number, headers: http.IncomingHttpHeaders, excerpt: string): string {
  if (statusCode >= 300 && statusCode < 400) {
    return `HTTP ${statusCode}: redirects are not followed (Location: ${headers.location ?? 'none'})`;
  }
  const text = excerpt.replace(/\s+/g, ' ').trim();
  return text === '' ? `HTTP ${statusCode}` : `HTTP ${statusCode}: ${text}`;
}

function errorText(error: Error): string {
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return 'timed out';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code)
    ? `${code}: ${error.message}`
    : error.message;
}
