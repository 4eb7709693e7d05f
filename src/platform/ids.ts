import { v7 as uuidv7, validate, version } from 'uuid';

/** Row ids are UUIDv7: time-ordered, so they index well and sort by creation. */
export function newId(): string {
  return uuidv7();
}

export function isUuid(value: string): boolean {
  return validate(value) && version(value) >= 1;
}
