import { AppError, HttpErrors } from './problem.js';

/** Strong entity tag for a row version: `"7"`. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

const ENTITY_TAG = /^\s*(?:W\/)?"(\d{1,10})"\s*$/;

/**
 * The version an `If-Match` header names. Absent → 428 (the caller must say which version it
 * read); not one of our tags → 412, since it cannot match the current representation; `*` →
 * undefined: the caller explicitly accepts any current version (RFC 9110 §13.1.1).
 */
export function requireIfMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '') {
    throw new AppError(
      HttpErrors.preconditionRequired,
      'Send If-Match with the ETag of the version you read',
    );
  }
  return header.trim() === '*' ? undefined : parseIfMatchVersion(header);
}

/** Like `requireIfMatchVersion`, but an absent header means "any version". */
export function optionalIfMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '' || header.trim() === '*') return undefined;
  return parseIfMatchVersion(header);
}

function parseIfMatchVersion(header: string): number {
  const match = ENTITY_TAG.exec(header);
  const version = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  if (!Number.isSafeInteger(version)) {
    throw new AppError(HttpErrors.versionConflict, `If-Match ${header} does not match the current version`);
  }
  return version;
}

export function versionConflict(currentVersion: number): AppError {
  return new AppError(
    HttpErrors.versionConflict,
    `The resource is at version ${currentVersion}; read it again and retry`,
    { current_version: currentVersion },
    { etag: etagOf(currentVersion) },
  );
}
