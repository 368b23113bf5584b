import { InvalidArgumentError } from 'commander';

/** A flag's parser for any finite number; the message names the flag. */
export function number(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed)) {
      throw new InvalidArgumentError(`${name} must be a number`);
    }
    return parsed;
  };
}

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError('must be a positive integer');
  }
  return parsed;
}
