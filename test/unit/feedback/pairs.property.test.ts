import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeedbackRating, StoredFeedback, StoredInteraction } from '#contracts/feedback/feedback.ts';
import { normalizeText } from '#core/dataprep/normalize.ts';
import { parseSuiteItem } from '#core/eval/suite.ts';
import { isHeldOut } from '#core/feedback/holdout.ts';
import { annotatorPseudonym, buildFeedbackRecords, type FeedbackInput } from '#core/feedback/pairs.ts';
import { at, interaction, verdict } from './export-fixtures.ts';

/**
 * Properties of building records from feedback, over small worlds where collisions are likely: a few
 * prompts, a few answers (some equal after normalization), a few annotators who rate, correct and
 * prefer, interactions missing or truncated, annotators excluded, and any hold-out share.
 */

const PROMPTS = ['sha256:p0', 'sha256:p1', 'sha256:p2', 'sha256:p3', 'sha256:p4'];
const ANSWERS = ['Paris.', ' Paris. ', 'Lyon.', 'I cannot say.', 'Paris, France.', ''];
const WRITTEN = ['Paris.', 'Paris, France.', 'It is Paris.', 'Lyon.'];
const USERS = ['ann', 'bob', 'cat', 'dan'];
const RATINGS: FeedbackRating[] = ['up', 'down', 1, 2, 3, 4, 5];

const interactionArb = fc.record({
  prompt: fc.constantFrom(...PROMPTS),
  answer: fc.constantFrom(...ANSWERS),
  truncated: fc.nat(5).map((n) => n === 0),
  missing: fc.boolean(),
  system: fc.constantFrom(null, 'Be brief.'),
});

const verdictArb = fc.record({
  of: fc.nat(9),
  user: fc.constantFrom(...USERS),
  rating: fc.constantFrom(...RATINGS),
  correction: fc.option(fc.constantFrom(...WRITTEN), { nil: undefined }),
  preferredAnswer: fc.option(fc.constantFrom(...WRITTEN), { nil: undefined }),
  second: fc.nat(60),
});

const worldArb = fc
  .record({
    interactions: fc.array(interactionArb, { minLength: 1, maxLength: 10 }),
    verdicts: fc.array(verdictArb, { maxLength: 30 }),
    excluded: fc.subarray(USERS, { maxLength: 2 }),
    holdOutShare: fc.constantFrom(0, 0.2, 0.5),
  })
  .map((w) => {
    const all: StoredInteraction[] = w.interactions.map((i, n) =>
      interaction(`i-${n}`, i.answer, {
        promptHash: i.prompt,
        truncated: i.truncated,
        system: i.system,
        // The same rendered input for the same prompt hash, as the gateway's hash promises.
        messages: [{ role: 'user', content: `Question ${i.prompt}?` }],
      }),
    );
    const verdicts: StoredFeedback[] = w.verdicts.map((v) => {
      const of = all[v.of % all.length] as StoredInteraction;
      return verdict(of, v.user, v.rating, {
        ...(v.correction === undefined ? {} : { correction: v.correction }),
        ...(v.preferredAnswer === undefined ? {} : { preferredAnswer: v.preferredAnswer }),
        updatedAt: at(v.second),
      });
    });
    // The system prompt must follow the prompt hash too: the first interaction of a hash sets it.
    const systemOf = new Map<string, string | null>();
    const consistent = all.map((i) => {
      if (!systemOf.has(i.promptHash)) systemOf.set(i.promptHash, i.system);
      return { ...i, system: systemOf.get(i.promptHash) ?? null };
    });
    const present = consistent.filter((_, n) => !w.interactions[n]?.missing);
    const input: FeedbackInput = {
      verdicts,
      interactions: new Map(present.map((i) => [i.interactionId, i])),
      excluded: new Set(w.excluded),
      holdOutShare: w.holdOutShare,
    };
    return input;
  });

const shuffledArb = worldArb.chain((input) =>
  fc.shuffledSubarray([...input.verdicts], { minLength: input.verdicts.length }).map((verdicts) => ({
    input,
    shuffled: { ...input, verdicts },
  })),
);

describe('buildFeedbackRecords (properties)', () => {
  it('is deterministic: the same verdicts in any order make the same records', () => {
    fc.assert(
      fc.property(shuffledArb, ({ input, shuffled }) => {
        expect(buildFeedbackRecords(shuffled)).toEqual(buildFeedbackRecords(input));
      }),
      { numRuns: 300 },
    );
  });

  it('never makes a pair whose chosen and rejected are the same text, and no answer is both sides of opposite ratings', () => {
    fc.assert(
      fc.property(worldArb, (input) => {
        const { pairs } = buildFeedbackRecords(input);
        const sides = new Map<string, Set<string>>();
        for (const pair of pairs) {
          expect(pair.chosen).not.toBe(pair.rejected);
          expect(normalizeText(pair.chosen)).not.toBe(normalizeText(pair.rejected));
          expect(pair.chosen).not.toBe('');
          expect(pair.rejected).not.toBe('');
          if (pair.metadata.kind !== 'opposite_ratings') continue;
          for (const [side, text] of [
            ['chosen', pair.chosen],
            ['rejected', pair.rejected],
          ] as const) {
            const key = `${pair.metadata.promptHash}\n${text}`;
            const seen = sides.get(key) ?? new Set<string>();
            seen.add(side);
            sides.set(key, seen);
          }
        }
        for (const seen of sides.values()) expect(seen.size).toBe(1);
      }),
      { numRuns: 300 },
    );
  });

  it('never lets a held-out prompt into training data, and every held-out line parses as a suite line', () => {
    fc.assert(
      fc.property(worldArb, (input) => {
        const { pairs, unpaired, heldOut } = buildFeedbackRecords(input);
        for (const record of [...pairs, ...unpaired]) {
          expect(isHeldOut(String(record.metadata.promptHash), input.holdOutShare)).toBe(false);
        }
        for (const line of heldOut) {
          expect(isHeldOut(String(line.metadata.promptHash), input.holdOutShare)).toBe(true);
          expect(parseSuiteItem(JSON.parse(JSON.stringify(line)))).toHaveProperty('item');
        }
        expect(new Set(heldOut.map((l) => l.metadata.promptHash)).size).toBe(heldOut.length);
      }),
      { numRuns: 300 },
    );
  });

  it("makes unique ids, and no record from an excluded annotator's verdicts or a truncated interaction", () => {
    fc.assert(
      fc.property(worldArb, (input) => {
        const { pairs, unpaired, heldOut } = buildFeedbackRecords(input);
        const ids = [...pairs, ...unpaired, ...heldOut].map((r) => r.id);
        expect(new Set(ids).size).toBe(ids.length);
        const truncated = new Set(
          [...input.interactions.values()].filter((i) => i.truncated).map((i) => i.interactionId),
        );
        const excluded = new Set([...(input.excluded ?? [])].map(annotatorPseudonym));
        for (const record of [...pairs, ...unpaired, ...heldOut]) {
          const annotators = String(record.metadata.annotators).split(',').filter(Boolean);
          expect(annotators.length).toBeGreaterThan(0);
          for (const pseudonym of annotators) {
            expect(pseudonym).toMatch(/^annotator-[0-9a-f]{12}$/);
            expect(excluded.has(pseudonym)).toBe(false);
          }
        }
        for (const pair of pairs) {
          expect(truncated.has(pair.metadata.rejectedInteraction)).toBe(false);
          expect(truncated.has(pair.metadata.chosenInteraction ?? '')).toBe(false);
        }
        for (const record of unpaired) expect(truncated.has(record.metadata.interaction)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
