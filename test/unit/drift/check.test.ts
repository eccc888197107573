import { describe, expect, it } from 'vitest';
import { checkDrift, type DriftRecord, EMBEDDING_METHODS, projectEmbeddings } from '#core/drift/check.ts';
import { benjaminiHochberg, bhAdjusted } from '#core/drift/stats.ts';
import { ValidationError } from '#core/errors.ts';
import { createRng, type Rng } from '#core/eval/stats.ts';

/** `count` vectors of `dim` independent N(shift, 1) values, by Box–Muller on a seeded generator. */
function gaussian(seed: string, count: number, dim: number, shift = 0): number[][] {
  const rng = createRng(seed);
  const normal = () => {
    const u = 1 - rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  return Array.from({ length: count }, () => Array.from({ length: dim }, () => shift + normal()));
}

const pick = <T>(values: readonly T[], rng: Rng): T => values[rng.nextInt(values.length)] as T;

const SHORT = [
  'How do I raise the {x} of my function?',
  'Why does my function hit its {x}?',
  'Where do I see the {x} of a function?',
];
const LONG = [
  'Our team moved the billing workers to containers last month and since then the {x} keeps growing every night. We tried three fixes already and none of them helped at all. What should we look at next, and who can help us with it?',
  'After the upgrade our cluster shows a different {x} on every node, the dashboards disagree with the logs, and the on-call engineer could not explain it. Is there a guide that walks through this case from start to finish?',
];
const SLOTS = ['memory', 'timeout', 'concurrency', 'storage'];

/** `count` records from the templates, each with a text (and an embedding when `dim` is given). */
function texts(seed: string, count: number, templates: readonly string[]): string[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => pick(templates, rng).replace('{x}', pick(SLOTS, rng)));
}

const records = (list: readonly string[]): DriftRecord[] => list.map((text) => ({ text }));
const vectors = (list: readonly number[][]): DriftRecord[] => list.map((embedding) => ({ embedding }));

describe('checkDrift', () => {
  it('finds no drift between a window and itself, with every test run and sufficient', () => {
    const window = texts('a', 120, SHORT).map((text, i) => ({
      text,
      embedding: gaussian('a', 120, 8)[i] as number[],
    }));
    const result = checkDrift(window, window, { seed: 1 });
    expect(result.drift).toBe(false);
    expect(result.insufficient).toBe(false);
    expect(result.n).toEqual({ reference: 120, current: 120 });
    expect(result.embedding).toMatchObject({ method: 'mmd', drift: false, insufficient: false });
    expect(Object.keys(result.descriptors).sort()).toEqual(
      ['language', 'nonLetterShare', 'oovRate', 'piiRate', 'tokens'].sort(),
    );
    for (const [name, d] of Object.entries(result.descriptors)) {
      expect(d, name).toMatchObject({ drift: false, insufficient: false, statistic: 0, pValue: 1 });
    }
    // The descriptors that read answers or retrieval scores have nothing to measure, and say so.
    expect(result.details.skipped.map((s) => s.name).sort()).toEqual(
      ['answerTokens', 'notFound', 'refusal', 'retrievalTopScore'].sort(),
    );
  });

  it('detects a shift of the embeddings, naming the test that fired with the smallest p-value', () => {
    const result = checkDrift(vectors(gaussian('ref', 150, 8)), vectors(gaussian('cur', 150, 8, 0.6)), {
      seed: 'shift',
    });
    const detail = result.details.embedding;
    expect(detail).not.toBeNull();
    const e = result.embedding;
    expect(e?.drift).toBe(true);
    expect(result.drift).toBe(true);
    expect(e?.threshold).toBeCloseTo(0.05 / 3, 15);
    // The reported method fired at alpha/3 and has the smallest p-value of those that fired.
    const fired = EMBEDDING_METHODS.filter((m) => detail?.fired[m]);
    expect(fired).toContain(e?.method);
    const ps = fired.map((m) => detail?.tests[m].pValue as number);
    expect(e?.pValue).toBe(Math.min(...ps));
    expect(e?.pValue).toBeLessThanOrEqual(0.05 / 3);
    expect(e?.statistic).toBe(detail?.tests[e?.method ?? 'mmd'].statistic);
    for (const m of EMBEDDING_METHODS) {
      expect(detail?.fired[m]).toBe((detail?.tests[m].pValue ?? 1) <= 0.05 / 3);
    }
    // No text: no descriptor was tested.
    expect(result.descriptors).toEqual({});
  });

  it('reports mmd and no drift for two draws of one distribution of embeddings', () => {
    const result = checkDrift(vectors(gaussian('ref', 150, 8)), vectors(gaussian('other', 150, 8)), {
      seed: 'null',
    });
    expect(result.embedding).toMatchObject({ method: 'mmd', drift: false, insufficient: false });
    expect(result.embedding?.pValue).toBe(result.details.embedding?.tests.mmd.pValue);
    expect(result.drift).toBe(false);
  });

  it('detects a shift of the text descriptors, deciding by Benjamini–Hochberg across them', () => {
    const result = checkDrift(records(texts('r', 150, SHORT)), records(texts('c', 150, LONG)), { seed: 2 });
    expect(result.drift).toBe(true);
    expect(result.embedding).toBeNull();
    expect(result.descriptors.tokens).toMatchObject({ test: 'ks', drift: true, insufficient: false });
    expect(result.descriptors.oovRate?.drift).toBe(true);
    expect(result.descriptors.language).toMatchObject({ test: 'chi2', drift: false });
    const names = Object.keys(result.details.descriptors);
    const ps = names.map((n) => result.details.descriptors[n]?.pValue ?? null);
    const rejected = benjaminiHochberg(ps, 0.05);
    const adjusted = bhAdjusted(ps);
    names.forEach((name, i) => {
      const d = result.details.descriptors[name];
      expect(d?.drift, name).toBe(rejected[i]);
      expect(d?.adjustedPValue, name).toBe(adjusted[i]);
      expect(d?.threshold).toBe(0.05);
    });
    // Effect sizes and both windows' summaries travel with each test, for the report.
    const tokens = result.details.descriptors.tokens;
    expect(tokens?.effect).toMatchObject({ measure: 'wasserstein' });
    expect(tokens?.histogram?.reference.reduce((s, c) => s + c, 0)).toBe(150);
    expect(tokens?.histogram?.current.reduce((s, c) => s + c, 0)).toBe(150);
    expect(result.details.descriptors.language?.effect).toMatchObject({ measure: 'psi' });
    expect(result.details.descriptors.language?.reference).toEqual({ n: 150, counts: { latin: 150 } });
    // The least familiar current texts are kept as examples.
    expect(result.details.examples.length).toBeGreaterThan(0);
  });

  it('measures the reference OOV rate leave-one-out, so new ticket numbers alone are not drift', () => {
    // Every text holds one ticket number seen nowhere else: new to the rest of its own window too.
    const tickets = (seed: string) => texts(seed, 150, SHORT).map((t, i) => `${t} Ticket ${seed}${1000 + i}`);
    const result = checkDrift(records(tickets('r')), records(tickets('c')), { seed: 3 });
    expect(result.descriptors.oovRate).toMatchObject({ drift: false, insufficient: false });
    expect(result.details.descriptors.oovRate?.effect?.value).toBeLessThan(0.05);
  });

  it('reports windows below the minimum as insufficient, never as no drift', () => {
    const result = checkDrift(
      texts('r', 20, SHORT).map((text, i) => ({ text, embedding: gaussian('r', 20, 4)[i] as number[] })),
      texts('c', 20, LONG).map((text, i) => ({ text, embedding: gaussian('c', 20, 4, 3)[i] as number[] })),
    );
    expect(result.details.minWindow).toBe(50);
    expect(result.embedding).toMatchObject({ insufficient: true, drift: false, pValue: null });
    for (const [name, d] of Object.entries(result.descriptors)) {
      expect(d, name).toMatchObject({ insufficient: true, drift: false, pValue: null });
    }
    expect(result.drift).toBe(false);
    expect(result.insufficient).toBe(true);
    expect(result.details.notes.join(' ')).toMatch(/insufficient data/);
    // With a smaller minimum (a larger effect to detect), the same windows are tested.
    const tested = checkDrift(
      texts('r', 20, SHORT).map((text) => ({ text })),
      texts('c', 20, LONG).map((text) => ({ text })),
      { effect: 1.5 },
    );
    expect(tested.details.minWindow).toBeLessThanOrEqual(20);
    expect(tested.descriptors.tokens).toMatchObject({ insufficient: false, drift: true });
  });

  it('runs the embedding tests only when every record has an embedding, and says why not', () => {
    const reference = vectors(gaussian('r', 60, 4));
    const current: DriftRecord[] = [...vectors(gaussian('c', 59, 4)), { text: 'only a text' }];
    const result = checkDrift(reference, current);
    expect(result.embedding).toBeNull();
    expect(result.details.notes[0]).toMatch(/59 of 60 current records/);
  });

  it('is deterministic for a seed', () => {
    const reference = texts('r', 80, SHORT).map((text, i) => ({
      text,
      embedding: gaussian('r', 80, 6)[i] as number[],
    }));
    const current = texts('c', 80, SHORT).map((text, i) => ({
      text,
      embedding: gaussian('c', 80, 6, 0.2)[i] as number[],
    }));
    expect(checkDrift(reference, current, { seed: 'x' })).toEqual(
      checkDrift(reference, current, { seed: 'x' }),
    );
  });

  it('names the record of a bad window', () => {
    const fails = (reference: unknown[], current: unknown[]) => {
      try {
        checkDrift(reference as DriftRecord[], current as DriftRecord[]);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return { field: (error as ValidationError).field, rule: (error as ValidationError).rule };
      }
      throw new Error('expected a ValidationError');
    };
    const ok = [{ text: 'a' }];
    expect(fails([], ok)).toEqual({ field: 'reference', rule: 'must hold at least one record' });
    expect(fails(ok, [{ text: 'a' }, { text: 'b' }, { text: 'c' }, { id: 4 }]).field).toBe('current.3');
    expect(fails(ok, [{ text: 7 }]).field).toBe('current.0.text');
    expect(fails([{ embedding: [1, 2, 3] }], [{ embedding: [1, 2, 3] }, { embedding: [1, 2] }])).toEqual({
      field: 'current.1.embedding',
      rule: 'must have 3 dimensions like the first embedding (has 2)',
    });
    expect(fails([{ embedding: [1, Number.NaN] }], ok).field).toBe('reference.0.embedding.1');
    expect(fails([{ embedding: [] }], ok).field).toBe('reference.0.embedding');
    expect(() => checkDrift(ok, ok, { alpha: 2 })).toThrow(ValidationError);
  });
});

describe('checkDrift: the answers’ embeddings', () => {
  /** Records with a question embedding and, for `answers[i]`, an answer embedding. */
  const answered = (questions: number[][], answers: (number[] | undefined)[]): DriftRecord[] =>
    questions.map((embedding, i) => ({
      embedding,
      ...(answers[i] !== undefined ? { answerEmbedding: answers[i] } : {}),
    }));

  it('tests the answers as a second family with its own verdict, seeded apart', () => {
    const questions = gaussian('q', 80, 6);
    const reference = answered(questions, gaussian('a-ref', 80, 5));
    const current = answered(gaussian('q2', 80, 6), gaussian('a-cur', 80, 5, 0.6));
    const result = checkDrift(reference, current, { seed: 's' });
    expect(result.embedding).toMatchObject({ drift: false });
    expect(result.answerEmbedding).toMatchObject({ drift: true, insufficient: false, threshold: 0.05 / 3 });
    expect(result.drift).toBe(true);
    const detail = result.details.answerEmbedding;
    expect(detail).toMatchObject({ status: 'tested', n: { reference: 80, current: 80 } });
    expect(detail?.embedding?.dimension).toBe(5);
    expect(detail?.projection?.given).toEqual({ reference: 80, current: 80 });
    for (const method of EMBEDDING_METHODS) expect(detail?.embedding?.tests[method].n).toBeDefined();
    // Two draws of one distribution of answers: no drift.
    const same = checkDrift(reference, answered(gaussian('q2', 80, 6), gaussian('a-cur', 80, 5)), {
      seed: 's',
    });
    expect(same.answerEmbedding).toMatchObject({ drift: false, insufficient: false });
  });

  it('uses the records that carry an answer embedding: a window with few is insufficient, not "no drift"', () => {
    const reference = answered(gaussian('q', 80, 4), gaussian('a', 80, 3));
    const current = answered(gaussian('q2', 80, 4), gaussian('b', 12, 3));
    const result = checkDrift(reference, current);
    expect(result.answerEmbedding).toMatchObject({ drift: false, insufficient: true, pValue: null });
    expect(result.details.answerEmbedding).toMatchObject({ status: 'insufficient', n: { current: 12 } });
    expect(result.insufficient).toBe(true);
    const one = checkDrift(reference, answered(gaussian('q2', 80, 4), gaussian('b', 1, 3)));
    expect(one.answerEmbedding).toMatchObject({ insufficient: true, pValue: null });
    expect(one.details.answerEmbedding).toMatchObject({ status: 'insufficient', embedding: null });
    expect(one.details.notes.join(' ')).toMatch(/1 in the current window/);
  });

  it('a reference without answer embeddings is "no baseline" for them, never drift', () => {
    const reference = vectors(gaussian('q', 60, 4));
    const current = answered(gaussian('q2', 60, 4), gaussian('b', 60, 3, 5));
    const result = checkDrift(reference, current);
    expect(result.answerEmbedding).toBeNull();
    expect(result.details.answerEmbedding).toEqual({
      status: 'no-baseline',
      n: { reference: 0, current: 60 },
      embedding: null,
      projection: null,
    });
    expect(result.drift).toBe(false);
    expect(result.details.notes.join(' ')).toMatch(/no baseline, not "no drift"/);
  });

  it('leaves the result as it was when no record has an answer embedding', () => {
    const result = checkDrift(vectors(gaussian('q', 60, 4)), vectors(gaussian('q2', 60, 4)));
    expect(result.answerEmbedding).toBeNull();
    expect(result.details.answerEmbedding).toBeNull();
  });

  it('names a bad answer embedding, checking its dimensions apart from the questions’', () => {
    const field = (current: DriftRecord[]) => {
      try {
        checkDrift([{ embedding: [1, 2, 3], answerEmbedding: [1, 2] }], current);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return `${(error as ValidationError).field}: ${(error as ValidationError).rule}`;
      }
      throw new Error('expected a ValidationError');
    };
    expect(field([{ embedding: [1, 2, 3], answerEmbedding: [1, 2, 3] }])).toBe(
      'current.0.answerEmbedding: must have 2 dimensions like the first answer embedding (has 3)',
    );
    expect(field([{ embedding: [1, 2, 3], answerEmbedding: [1, Number.POSITIVE_INFINITY] }])).toBe(
      'current.0.answerEmbedding.1: must be a finite number',
    );
    // An answer embedding alone is not a record: it needs a text or an embedding.
    expect(field([{ answerEmbedding: [1, 2] } as DriftRecord])).toBe(
      'current.0: must have a text or an embedding',
    );
  });
});

describe('projectEmbeddings', () => {
  it('projects at most maxPoints vectors, the smaller window keeping up to half, seeded', () => {
    const reference = gaussian('r', 900, 5);
    const current = gaussian('c', 300, 5, 2);
    const projection = projectEmbeddings(reference, current, { seed: 's', maxPoints: 400 });
    expect(projection.reference).toHaveLength(200);
    expect(projection.current).toHaveLength(200);
    expect(projection.given).toEqual({ reference: 900, current: 300 });
    expect(projectEmbeddings(reference, current, { seed: 's', maxPoints: 400 })).toEqual(projection);
    // The shift of the current window lies along the first component, which holds the most variance.
    const [first, second] = projection.explained;
    expect(first).toBeGreaterThan(second);
    expect(first + second).toBeLessThanOrEqual(1 + 1e-9);
    const mean = (points: readonly (readonly [number, number])[]) =>
      points.reduce((s, p) => s + p[0], 0) / points.length;
    expect(Math.abs(mean(projection.current) - mean(projection.reference))).toBeGreaterThan(3);
  });

  it('finds the principal axes of a known covariance', () => {
    // Variance 9 along the first axis, 1 along the second, 0.01 along the third.
    const rng = createRng('axes');
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const points = Array.from({ length: 2000 }, () => [3 * normal(), normal(), 0.1 * normal()]);
    const projection = projectEmbeddings(points.slice(0, 1000), points.slice(1000), {
      seed: 1,
      maxPoints: 2000,
    });
    expect(projection.explained[0]).toBeCloseTo(9 / 10.01, 1);
    expect(projection.explained[1]).toBeCloseTo(1 / 10.01, 1);
  });
});
