import { describe, expect, it } from 'vitest';
import { readConfig } from '#aws/config.ts';
import { ConfigError } from '#aws/errors.ts';
import { envVar } from '#contracts/env.ts';

describe('readConfig', () => {
  const shape = {
    TABLE: envVar.string(),
    PARTS: envVar.int(1),
    RATIO: envVar.ratio(),
    FLAG: envVar.bool(false),
  };

  it('parses and converts values', () => {
    expect(readConfig(shape, { TABLE: 't', PARTS: '4', RATIO: '0.25', FLAG: 'true' })).toEqual({
      TABLE: 't',
      PARTS: 4,
      RATIO: 0.25,
      FLAG: true,
    });
    expect(readConfig(shape, { TABLE: 't', PARTS: '4', RATIO: '0' }).FLAG).toBe(false);
  });

  it('names every missing or malformed variable', () => {
    let error: unknown;
    try {
      readConfig(shape, { PARTS: 'four', RATIO: '2', FLAG: 'yes' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('TABLE: is required');
    expect(message).toContain('PARTS: must be a whole number');
    expect(message).toContain('RATIO: must be between 0 and 1');
    expect(message).toContain("FLAG: must be 'true' or 'false'");
  });
});
