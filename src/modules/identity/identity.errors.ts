import { AppError, defineError } from '../../platform/http/problem.js';

export const IdentityErrors = {
  invalidCredentials: defineError('INVALID_CREDENTIALS', 401, 'The email or password is not valid'),
  invalidRefreshToken: defineError('INVALID_REFRESH_TOKEN', 401, 'The refresh token is not valid'),
  emailTaken: defineError('EMAIL_ALREADY_REGISTERED', 409, 'A user with this email already exists'),
  userNotFound: defineError('USER_NOT_FOUND', 404, 'User not found'),
  apiKeyNotFound: defineError('API_KEY_NOT_FOUND', 404, 'API key not found'),
  tenantNotFound: defineError('TENANT_NOT_FOUND', 404, 'Tenant not found'),
  tenantExists: defineError('TENANT_ALREADY_EXISTS', 409, 'A tenant with this id already exists'),
  ownAccount: defineError('OWN_ACCOUNT_UNCHANGEABLE', 403, 'You cannot change your own access'),
} as const;

const BEARER = { 'www-authenticate': 'Bearer' } as const;

/** One answer for an unknown email, a wrong password, a disabled user and an unknown tenant. */
export function invalidCredentials(): AppError {
  return new AppError(IdentityErrors.invalidCredentials, 'The email or password is not valid', {}, BEARER);
}

export function invalidRefreshToken(): AppError {
  return new AppError(
    IdentityErrors.invalidRefreshToken,
    'The refresh token is not valid: sign in again',
    {},
    BEARER,
  );
}

export function userNotFound(userId: string): AppError {
  return new AppError(IdentityErrors.userNotFound, `User ${userId} does not exist`, { user_id: userId });
}

export function apiKeyNotFound(keyId: string): AppError {
  return new AppError(IdentityErrors.apiKeyNotFound, `API key ${keyId} does not exist`, {
    api_key_id: keyId,
  });
}
