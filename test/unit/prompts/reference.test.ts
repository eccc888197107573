import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROMPT_REF } from '#contracts/http/schemas.ts';
import { ValidationError } from '#core/errors.ts';
import { formatPromptRef, parsePromptRef } from '#core/prompts/reference.ts';

describe('parsePromptRef', () => {
  it('reads a bare name as its production label', () => {
    expect(parsePromptRef('support')).toEqual({ name: 'support', label: 'production' });
  });

  it('reads name@label and name:version', () => {
    expect(parsePromptRef('support@staging')).toEqual({ name: 'support', label: 'staging' });
    expect(parsePromptRef('support@latest')).toEqual({ name: 'support', label: 'latest' });
    expect(parsePromptRef('support-v2_x:12')).toEqual({ name: 'support-v2_x', version: 12 });
  });

  it.each([
    ['', 'name'],
    ['Support', 'name'],
    ['-x', 'name'],
    ['a'.repeat(65), 'name'],
    ['support@', 'label'],
    ['support@Prod', 'label'],
    ['support@1st', 'label'],
    ['support:', 'version'],
    ['support:0', 'version'],
    ['support:01', 'version'],
    ['support:1.5', 'version'],
    ['support:1234567890', 'version'],
    ['support@prod:3', 'not both'],
    ['support:3@prod', 'not both'],
  ])('refuses %j, naming the %s', (ref, part) => {
    let error: unknown;
    try {
      parsePromptRef(ref);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('prompt');
    expect((error as ValidationError).rule).toContain(part);
  });

  it('agrees with the API schema on what is valid, and round-trips (property)', () => {
    const piece = fc.string({ unit: fc.constantFrom(...'ab0_-@:Z9'.split('')), maxLength: 12 });
    fc.assert(
      fc.property(piece, (ref) => {
        let parsed: ReturnType<typeof parsePromptRef> | undefined;
        try {
          parsed = parsePromptRef(ref);
        } catch (error) {
          expect(error).toBeInstanceOf(ValidationError);
        }
        expect(parsed !== undefined).toBe(PROMPT_REF.test(ref));
        if (parsed && ref.includes('@')) expect(formatPromptRef(parsed)).toBe(ref);
        if (parsed && ref.includes(':')) expect(formatPromptRef(parsed)).toBe(ref);
      }),
      { numRuns: 2000 },
    );
  });
});
