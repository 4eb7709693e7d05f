import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import type { Role } from '../../platform/http/request-context.js';
import { newId } from '../../platform/ids.js';

/** Ed25519 (ADR 0014): small keys and tokens, fast, deterministic signatures with no nonce to get wrong. */
export const JWT_ALGORITHM = 'EdDSA';
/** Tolerated clock difference between instances when checking exp and nbf. */
const CLOCK_TOLERANCE_SECONDS = 5;

export interface TokenOptions {
  signingKey: KeyObject;
  /** The public key of the previous signing key: its tokens stay valid until they expire. */
  previousPublicKey: KeyObject | undefined;
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
}

export interface TokenSubject {
  tenantId: string;
  userId: string;
  role: Role;
  storeIds: readonly string[] | null;
}

export interface VerifiedToken {
  tenantId: string;
  userId: string;
  tokenId: string;
}

/** An Ed25519 public key as published in the JWKS. */
export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  kid: string;
  alg: string;
  use: string;
}

interface VerificationKey {
  kid: string;
  key: KeyObject;
  jwk: PublicJwk;
}

/**
 * Mints and checks access tokens. Verification accepts only EdDSA, only our keys (by `kid`), only
 * our issuer and audience, and only within exp/nbf: `alg: none`, HMAC confusion and foreign keys
 * all fail in jose before any claim is read.
 */
export class TokenService {
  private constructor(
    private readonly options: TokenOptions,
    private readonly current: VerificationKey,
    private readonly keys: readonly VerificationKey[],
  ) {}

  static async create(options: TokenOptions): Promise<TokenService> {
    const current = await verificationKeyOf(createPublicKey(options.signingKey));
    const previous =
      options.previousPublicKey === undefined
        ? undefined
        : await verificationKeyOf(options.previousPublicKey);
    const keys = previous === undefined || previous.kid === current.kid ? [current] : [current, previous];
    return new TokenService(options, current, keys);
  }

  get accessTokenTtlSeconds(): number {
    return this.options.accessTokenTtlSeconds;
  }

  async issue(subject: TokenSubject): Promise<string> {
    return new SignJWT({ tenant: subject.tenantId, role: subject.role, store_ids: subject.storeIds })
      .setProtectedHeader({ alg: JWT_ALGORITHM, typ: 'JWT', kid: this.current.kid })
      .setSubject(subject.userId)
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(`${this.options.accessTokenTtlSeconds}s`)
      .setJti(newId())
      .sign(this.options.signingKey);
  }

  /** The token's tenant and user, or null for any token we did not issue or that is no longer valid. */
  async verify(token: string): Promise<VerifiedToken | null> {
    const keyOf: JWTVerifyGetKey = (header) => {
      const match = this.keys.find((candidate) => candidate.kid === header.kid);
      if (match === undefined) throw new Error('unknown kid');
      return match.key;
    };
    try {
      const { payload } = await jwtVerify(token, keyOf, {
        algorithms: [JWT_ALGORITHM],
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['sub', 'tenant', 'exp', 'iat', 'jti'],
      });
      const { sub, tenant, jti } = payload;
      if (typeof sub !== 'string' || typeof tenant !== 'string' || typeof jti !== 'string') return null;
      return { tenantId: tenant, userId: sub, tokenId: jti };
    } catch {
      // Every failure is the same 401 to the caller; the reason would only help an attacker.
      return null;
    }
  }

  /** The public keys, for GET /.well-known/jwks.json. */
  jwks(): { keys: PublicJwk[] } {
    return { keys: this.keys.map((key) => key.jwk) };
  }
}

async function verificationKeyOf(publicKey: KeyObject): Promise<VerificationKey> {
  const exported: JWK = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported);
  const { kty, crv, x } = exported;
  if (kty === undefined || crv === undefined || x === undefined) throw new Error('not an OKP public key');
  return { kid, key: publicKey, jwk: { kty, crv, x, kid, alg: JWT_ALGORITHM, use: 'sig' } };
}
