/**
 * Thrown when a caller passes an argument or option that a data-preparation function cannot work with
 * (a negative size, a ratio outside [0, 1], a malformed hash...). It signals a programming or
 * configuration error, never bad data: bad records are reported as values, not thrown.
 */
export class InvalidArgumentError extends RangeError {
  override readonly name = 'InvalidArgumentError';

  /**
   * @param argument the name of the offending argument or option, e.g. `opts.partSize`
   * @param rule what the argument must satisfy, e.g. `must be a positive integer`
   * @param received the value that was passed (rendered into the message)
   */
  constructor(
    readonly argument: string,
    readonly rule: string,
    received: unknown,
    options?: { cause?: unknown },
  ) {
    super(`${argument} ${rule} (received ${renderValue(received)})`, options);
  }
}

function renderValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${value.byteLength} bytes)`;
  return typeof value;
}

/** Asserts `value` is an integer in `[min, max]`, throwing {@link InvalidArgumentError} otherwise. */
export function assertInteger(
  argument: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const rule =
      max === Number.MAX_SAFE_INTEGER
        ? `must be an integer >= ${min}`
        : `must be an integer between ${min} and ${max}`;
    throw new InvalidArgumentError(argument, rule, value);
  }
}
