import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { StoredFeedback, StoredInteraction } from '#contracts/feedback/feedback.ts';
import { goldenRecordSchema, preferenceRecordSchema } from '#core/dataprep/records.ts';
import { parseSuiteItem } from '#core/eval/suite.ts';
import { annotatorStanding, splitAnnotators } from '#core/feedback/annotators.ts';
import { holdOutPoint, isHeldOut } from '#core/feedback/holdout.ts';
import {
  annotatorPseudonym,
  buildFeedbackRecords,
  type FeedbackInput,
  MAX_OPPOSITE_PAIRS_PER_PROMPT,
  renderPrompt,
  textIdentity,
} from '#core/feedback/pairs.ts';
import { at, interaction, promptHashWhere, verdict } from './export-fixtures.ts';

const TRAINING = promptHashWhere(false, 0.5);

function build(
  interactions: readonly StoredInteraction[],
  verdicts: readonly StoredFeedback[],
  options: Partial<FeedbackInput> = {},
) {
  return buildFeedbackRecords({
    verdicts,
    interactions: new Map(interactions.map((i) => [i.interactionId, i])),
    holdOutShare: 0.5,
    ...options,
  });
}

const ask = (id: string, answer: string, overrides: Partial<StoredInteraction> = {}) =>
  interaction(id, answer, { promptHash: TRAINING, ...overrides });

/** The `annotators` metadata of a record these users made: their pseudonyms, sorted, comma-separated. */
const annotators = (...users: string[]) => users.map(annotatorPseudonym).sort().join(',');

describe('renderPrompt', () => {
  it('is the content of a single user turn without a system prompt', () => {
    expect(renderPrompt({ system: null, messages: [{ role: 'user', content: 'Hi there' }] })).toBe(
      'Hi there',
    );
    expect(renderPrompt({ system: '', messages: [{ role: 'user', content: 'Hi there' }] })).toBe('Hi there');
  });

  it('is a transcript with role markers, the system prompt first, blocks apart by a blank line', () => {
    expect(
      renderPrompt({
        system: 'Answer from the passages.\n[1] Reset links expire.',
        messages: [
          { role: 'user', content: 'Reset?' },
          { role: 'assistant', content: 'Use the link.' },
          { role: 'user', content: 'It expired.' },
        ],
      }),
    ).toBe(
      'System: Answer from the passages.\n[1] Reset links expire.\n\nUser: Reset?\n\nAssistant: Use the link.\n\nUser: It expired.',
    );
    expect(renderPrompt({ system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }] })).toBe(
      'System: Be brief.\n\nUser: Hi',
    );
  });
});

describe('pairs from written answers', () => {
  const answered = ask('i-1', 'Click "forgot password".');

  it('makes a correction the chosen answer and the model answer the rejected one, with provenance', () => {
    const { pairs, unpaired } = build(
      [answered],
      [verdict(answered, 'ann', 'down', { correction: 'Open Settings, then Security, then Reset.' })],
    );
    expect(pairs).toEqual([
      {
        id: expect.stringMatching(/^pair-[0-9a-f]{64}$/),
        prompt: 'How do I reset my password?',
        chosen: 'Open Settings, then Security, then Reset.',
        rejected: 'Click "forgot password".',
        metadata: {
          source: 'feedback',
          kind: 'correction',
          rejectedInteraction: 'i-1',
          chosenInteraction: null,
          promptName: 'support',
          promptVersion: 3,
          model: 'claude-haiku-4-5',
          annotators: annotators('ann'),
          promptHash: TRAINING,
        },
      },
    ]);
    // The answer is on a pair: no KTO record of it besides.
    expect(unpaired).toEqual([]);
    const { id: _, ...line } = pairs[0] as NonNullable<(typeof pairs)[0]>;
    expect(preferenceRecordSchema.safeParse(line).success).toBe(true);
  });

  it('makes a preferred answer a pair of its own kind, with another id than the same text as a correction', () => {
    const { pairs } = build(
      [answered],
      [
        verdict(answered, 'ann', 'down', { preferredAnswer: 'Use the reset link.' }),
        verdict(answered, 'bob', 'down', { correction: 'Use the reset link.' }),
      ],
    );
    expect(pairs.map((p) => p.metadata.kind).sort()).toEqual(['correction', 'preferred_answer']);
    expect(new Set(pairs.map((p) => p.id)).size).toBe(2);
  });

  it('makes one pair of the same correction by several annotators (after normalization), naming them all', () => {
    const { pairs } = build(
      [answered],
      [
        verdict(answered, 'zoe', 'down', { correction: 'Use the reset link.' }),
        verdict(answered, 'ann', 1, { correction: '  Use the  reset link. ' }),
      ],
    );
    expect(pairs).toHaveLength(1);
    expect(pairs[0]?.metadata.annotators).toBe(annotators('ann', 'zoe'));
  });

  it('skips a correction that says what the model said', () => {
    const { pairs, unpaired, skipped } = build(
      [answered],
      [verdict(answered, 'ann', 'up', { correction: ' Click  "forgot password". ' })],
    );
    expect(pairs).toEqual([]);
    expect(skipped).toEqual({ same_answer: 1 });
    // The rating still stands on its own.
    expect(unpaired.map((u) => u.label)).toEqual([true]);
  });
});

describe('pairs from opposite ratings', () => {
  const good = ask('i-good', 'Settings → Security → Reset.', {
    model: { id: 'm-2', provider: 'p', modelId: 'x' },
  });
  const bad = ask('i-bad', 'I cannot help with that.');

  it('pairs a liked and a disliked answer to the same prompt, the liked one chosen', () => {
    const { pairs, unpaired } = build([good, bad], [verdict(good, 'ann', 'up'), verdict(bad, 'bob', 2)]);
    expect(pairs).toHaveLength(1);
    expect(pairs[0]).toMatchObject({
      chosen: 'Settings → Security → Reset.',
      rejected: 'I cannot help with that.',
      metadata: {
        kind: 'opposite_ratings',
        chosenInteraction: 'i-good',
        rejectedInteraction: 'i-bad',
        model: 'claude-haiku-4-5',
        annotators: annotators('ann', 'bob'),
      },
    });
    expect(unpaired).toEqual([]);
  });

  it('does not pair answers to different prompts', () => {
    const other = ask('i-other', 'Nope.', { promptHash: `${TRAINING}-b` });
    const { pairs } = build([good, other], [verdict(good, 'ann', 'up'), verdict(other, 'bob', 'down')], {
      holdOutShare: 0,
    });
    expect(pairs).toEqual([]);
  });

  it('takes the majority of the annotators of an answer, and a tie makes nothing', () => {
    const majority = build(
      [good, bad],
      [
        verdict(good, 'ann', 'up'),
        verdict(good, 'bob', 5),
        verdict(good, 'cat', 'down'),
        verdict(bad, 'dan', 'down'),
      ],
    );
    expect(majority.pairs).toHaveLength(1);
    expect(majority.pairs[0]?.metadata.annotators).toBe(annotators('ann', 'bob', 'dan'));

    const tie = build(
      [good, bad],
      [verdict(good, 'ann', 'up'), verdict(good, 'cat', 'down'), verdict(bad, 'dan', 'down')],
    );
    expect(tie.pairs).toEqual([]);
    expect(tie.skipped).toEqual({ disagreement: 1 });
    expect(tie.unpaired.map((u) => [u.completion, u.label])).toEqual([['I cannot help with that.', false]]);
  });

  it('pools interactions that gave the same answer: their votes are votes on one text', () => {
    const again = ask('i-again', ' I cannot help  with that. ');
    const { pairs, skipped } = build(
      [bad, again],
      [verdict(bad, 'ann', 'up'), verdict(again, 'bob', 'down')],
    );
    expect(pairs).toEqual([]);
    expect(skipped).toEqual({ disagreement: 1 });
  });

  it(`makes at most ${MAX_OPPOSITE_PAIRS_PER_PROMPT} pairs of one prompt, the first by id`, () => {
    const liked = Array.from({ length: 20 }, (_, i) => ask(`i-${i}`, `Answer number ${i}.`));
    const { pairs, skipped } = build(
      [...liked, bad],
      [...liked.map((i) => verdict(i, 'ann', 'up')), verdict(bad, 'bob', 'down')],
    );
    expect(pairs).toHaveLength(MAX_OPPOSITE_PAIRS_PER_PROMPT);
    expect(skipped.prompt_cap).toBe(20 - MAX_OPPOSITE_PAIRS_PER_PROMPT);
    expect(pairs.map((p) => p.id)).toEqual([...pairs.map((p) => p.id)].sort());
  });
});

describe('unpaired (KTO) records', () => {
  it('labels a lone answer by its polarity; three stars make nothing', () => {
    const liked = ask('i-1', 'Yes.');
    const disliked = ask('i-2', 'No.', { promptHash: `${TRAINING}-2` });
    const middling = ask('i-3', 'Maybe.', { promptHash: `${TRAINING}-3` });
    const { pairs, unpaired, skipped } = build(
      [liked, disliked, middling],
      [verdict(liked, 'ann', 4), verdict(disliked, 'ann', 'down'), verdict(middling, 'ann', 3)],
      { holdOutShare: 0 },
    );
    expect(pairs).toEqual([]);
    expect(
      unpaired.map((u) => [u.completion, u.label, u.metadata.interaction, u.metadata.kind]).sort(),
    ).toEqual([
      ['No.', false, 'i-2', 'rating'],
      ['Yes.', true, 'i-1', 'rating'],
    ]);
    expect(unpaired.every((u) => /^kto-[0-9a-f]{64}$/.test(u.id))).toBe(true);
    expect(skipped).toEqual({ neutral: 1 });
  });
});

describe('what is left out', () => {
  const answered = ask('i-1', 'Answer.');

  it('skips truncated, missing and empty interactions, counting why', () => {
    const cut = ask('i-cut', 'Half an ans', { truncated: true });
    const empty = ask('i-empty', '  ');
    const gone = ask('i-gone', 'Expired.');
    const { pairs, unpaired, skipped } = build(
      [cut, empty],
      [
        verdict(cut, 'ann', 'down', { correction: 'A whole answer.' }),
        verdict(empty, 'ann', 'down'),
        verdict(gone, 'bob', 'up'),
      ],
    );
    expect(pairs).toEqual([]);
    expect(unpaired).toEqual([]);
    expect(skipped).toEqual({ truncated: 1, empty_text: 1, interaction_missing: 1 });
  });

  it("counts an excluded annotator's verdicts for nothing: records only they made are never built", () => {
    const other = ask('i-2', 'Other answer.');
    const verdicts = [
      verdict(answered, 'troll', 'down', { correction: 'Wrong on purpose.' }),
      verdict(other, 'troll', 'up'),
      verdict(answered, 'ann', 'down'),
    ];
    const trusted = build([answered, other], verdicts);
    expect(trusted.pairs.map((p) => p.metadata.kind).sort()).toEqual(['correction', 'opposite_ratings']);
    const { pairs, unpaired, skipped } = build([answered, other], verdicts, { excluded: new Set(['troll']) });
    expect(pairs).toEqual([]);
    expect(unpaired.map((u) => [u.completion, u.metadata.annotators])).toEqual([
      ['Answer.', annotators('ann')],
    ]);
    expect(skipped).toEqual({ excluded_annotator: 2 });
  });

  it('counts a verdict once, at its latest change', () => {
    const first = verdict(answered, 'ann', 'up', { updatedAt: at(1) });
    const changed = verdict(answered, 'ann', 'down', { updatedAt: at(2) });
    const { unpaired, verdicts } = build([answered], [changed, first, changed]);
    expect(verdicts).toEqual([changed]);
    expect(unpaired.map((u) => u.label)).toEqual([false]);
  });
});

describe('ids', () => {
  it('are the same for the same feedback in any order, and name the texts they pair', () => {
    const a = ask('i-a', 'A.');
    const b = ask('i-b', 'B.');
    const verdicts = [
      verdict(a, 'ann', 'up'),
      verdict(b, 'bob', 'down', { correction: 'C.' }),
      verdict(b, 'cat', 'down'),
    ];
    const once = build([a, b], verdicts);
    const again = build([b, a], [...verdicts].reverse());
    expect(again).toEqual(once);
    expect(once.pairs).toHaveLength(2);
    // Another interaction with the same answer and the same verdicts makes the same records.
    const c = ask('i-0', 'B.');
    const moved = build([a, c], [
      verdicts[0],
      { ...verdicts[1], interactionId: 'i-0' },
      { ...verdicts[2], interactionId: 'i-0' },
    ] as StoredFeedback[]);
    expect(moved.pairs.map((p) => p.id)).toEqual(once.pairs.map((p) => p.id));
    expect(textIdentity(' B. ')).toBe(textIdentity('B.'));
  });
});

describe('annotators in exported records', () => {
  it('are pseudonyms: no user id (an e-mail address here) appears anywhere in a record', () => {
    const email = 'ann.lee@example.com';
    const other = 'bob.ray@example.com';
    const good = ask('i-good', 'Settings → Security → Reset.');
    const bad = ask('i-bad', 'I cannot help with that.');
    const lone = ask('i-lone', 'Maybe.', { promptHash: promptHashWhere(false, 0.5, 1000) });
    const held = interaction('i-held', 'Held.', { promptHash: promptHashWhere(true, 0.5) });
    const { pairs, unpaired, heldOut } = build(
      [good, bad, lone, held],
      [
        verdict(good, email, 'up'),
        verdict(bad, other, 'down', { correction: 'Open Settings, then Security.' }),
        verdict(bad, email, 'down'),
        verdict(lone, email, 'up'),
        verdict(held, email, 'down', { correction: 'Held, corrected.' }),
      ],
    );
    // The pseudonym is the first 12 hex digits of the SHA-256 of the user id.
    const pseudonym = `annotator-${createHash('sha256').update(email).digest('hex').slice(0, 12)}`;
    expect(annotatorPseudonym(email)).toBe(pseudonym);
    expect(pairs.map((p) => [p.metadata.kind, p.metadata.annotators]).sort()).toEqual([
      ['correction', annotatorPseudonym(other)],
      ['opposite_ratings', annotators(email, other)],
    ]);
    expect(unpaired.map((u) => u.metadata.annotators)).toEqual([pseudonym]);
    expect(heldOut.map((l) => l.metadata.annotators)).toEqual([pseudonym]);
    for (const record of [...pairs, ...unpaired, ...heldOut]) {
      const json = JSON.stringify(record);
      for (const user of [email, other]) {
        expect(json).not.toContain(user);
        expect(json).not.toContain(user.split('@')[0]);
      }
    }
  });
});

describe('held-out prompts', () => {
  const HELD = promptHashWhere(true, 0.5);
  const system = 'Answer from the passages.';
  const held = (id: string, answer: string) =>
    interaction(id, answer, { promptHash: HELD, system, app: 'support-web' });

  it('become one golden suite line, never training data, with the chosen answer as the reference', () => {
    const a = held('i-1', 'Wrong.');
    const b = held('i-2', 'Right.');
    const { pairs, unpaired, heldOut } = build(
      [a, b],
      [
        verdict(a, 'ann', 'down', { correction: 'Corrected.' }),
        verdict(b, 'bob', 'up'),
        verdict(a, 'cat', 'down'),
      ],
    );
    expect(pairs).toEqual([]);
    expect(unpaired).toEqual([]);
    expect(heldOut).toHaveLength(1);
    const line = heldOut[0];
    expect(line).toMatchObject({
      id: expect.stringMatching(/^golden-[0-9a-f]{64}$/),
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: 'How do I reset my password?' },
      ],
      tags: ['feedback'],
      metadata: {
        source: 'feedback',
        kind: 'holdout',
        interaction: 'i-1',
        interactions: 2,
        app: 'support-web',
        promptName: 'support',
        promptVersion: 3,
        annotators: annotators('ann', 'bob', 'cat'),
        promptHash: HELD,
      },
    });
    expect(['Corrected.', 'Right.']).toContain(line?.reference);
    const parsed = parseSuiteItem(JSON.parse(JSON.stringify(line)));
    expect('item' in parsed && parsed.item.id).toBe(line?.id);
    expect(goldenRecordSchema.safeParse(JSON.parse(JSON.stringify(line))).success).toBe(true);
  });

  it('have no reference without a pair, and none longer than a suite reference may be', () => {
    const a = held('i-1', 'Fine.');
    expect(build([a], [verdict(a, 'ann', 'up')]).heldOut[0]?.reference).toBeUndefined();
    const long = build([a], [verdict(a, 'ann', 'down', { correction: 'x '.repeat(6000) })]).heldOut[0];
    expect(long).toBeDefined();
    expect(long?.reference).toBeUndefined();
  });

  it('are chosen by a hash of the prompt, in about the share asked for', () => {
    const points = Array.from({ length: 10_000 }, (_, i) => holdOutPoint(`sha256:${i}`));
    const share = points.filter((p) => p < 0.1).length / points.length;
    expect(share).toBeGreaterThan(0.09);
    expect(share).toBeLessThan(0.11);
    expect(isHeldOut('sha256:any', 0)).toBe(false);
    expect(holdOutPoint('sha256:any')).toBe(holdOutPoint('sha256:any'));
  });
});

describe('annotator agreement', () => {
  const rule = { minAgreement: 0.6, minReviewed: 5 };
  const labels = (reviewed: number, agreed: number) =>
    Array.from({ length: reviewed }, (_, i) => ({
      rubric: 'r',
      judgeVerdict: true,
      humanVerdict: i < agreed,
    }));

  it('leaves out an annotator reviewed enough who agreed too rarely, with the numbers', () => {
    const split = splitAnnotators(
      ['ann', 'bob', 'cat', 'dan', 'ann'],
      new Map([
        ['ann', labels(10, 2)],
        ['bob', labels(4, 0)],
        ['cat', labels(5, 3)],
      ]),
      rule,
    );
    expect(split.excluded).toEqual([{ user: 'ann', agreement: 0.2, reviewed: 10 }]);
    // bob was reviewed too little to judge; cat agrees at exactly the bar; dan was never reviewed.
    expect(split.included).toEqual(['bob', 'cat', 'dan']);
  });

  it('counts agreement as the share of pairs where the reviewer and the annotator agree', () => {
    expect(annotatorStanding('u', [])).toEqual({ user: 'u', agreement: 1, reviewed: 0 });
    expect(
      annotatorStanding('u', [
        { rubric: 'r', judgeVerdict: false, humanVerdict: false },
        { rubric: 'r', judgeVerdict: true, humanVerdict: false },
      ]),
    ).toEqual({ user: 'u', agreement: 0.5, reviewed: 2 });
  });
});
