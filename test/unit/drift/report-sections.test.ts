import { describe, expect, it } from 'vitest';
import { checkDrift, type DriftRecord } from '#core/drift/check.ts';
import { compareFeedback, compareReviews, type FeedbackCounts } from '#core/drift/labelled.ts';
import { renderDriftHtml } from '#core/drift/report.ts';
import { answerEmbeddingJson, answerEmbeddingSection, labelledSection } from '#core/drift/report-sections.ts';
import { createRng } from '#core/eval/stats.ts';

/** Records with a question embedding and an answer embedding shifted by `answerShift`. */
function window(seed: string, count: number, answerShift: number, withAnswers = true): DriftRecord[] {
  const rng = createRng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return Array.from({ length: count }, () => ({
    embedding: Array.from({ length: 5 }, () => normal()),
    ...(withAnswers ? { answerEmbedding: Array.from({ length: 4 }, () => answerShift + normal()) } : {}),
  }));
}

const HOSTILE = '<script>alert(1)</script>';
const labels = { reference: 'baseline v1', current: HOSTILE };
const thumbs = (up: number, down: number, reviewed = 0, confirmed = 0): FeedbackCounts => ({
  answered: 900,
  verdicts: up + down,
  positive: up,
  negative: down,
  ratings: [down, 0, 0, 0, up],
  reviewed,
  confirmed,
});

describe('the answers’ embedding section', () => {
  const moved = checkDrift(window('r', 80, 0), window('c', 80, 1.5), { seed: 'answers' });

  it('shows the three tests, the verdict and the answers’ projection; the headline names the answers', () => {
    const section = answerEmbeddingSection(moved, labels);
    expect(section?.value).toContain('data-chart="answer-embedding" data-status="tested"');
    expect(section?.value).toContain('data-chart="answer-projection"');
    for (const method of ['mmd', 'classifier', 'centroid']) {
      expect(section?.value).toContain(`data-test="answer-embedding-${method}"`);
    }
    const page = renderDriftHtml(moved, { labels, sections: section ? [section] : [] });
    expect(page).toContain('id="answer-embeddings"');
    expect(page).not.toContain('<script>alert');
    expect(page).toMatch(/Drift: the answers&#39; embeddings moved/);
  });

  it('says "no baseline" when the reference has no answer embedding, and is absent without any', () => {
    const noBaseline = checkDrift(window('r', 60, 0, false), window('c', 60, 3));
    const section = answerEmbeddingSection(noBaseline, labels);
    expect(section?.value).toContain('data-status="no-baseline"');
    expect(section?.value).toContain('no baseline');
    expect(answerEmbeddingJson(noBaseline)).toMatchObject({
      status: 'no-baseline',
      drift: false,
      pValue: null,
      tests: null,
    });
    const none = checkDrift(window('r', 60, 0, false), window('c', 60, 0, false));
    expect(answerEmbeddingSection(none, labels)).toBeNull();
    expect(answerEmbeddingJson(none)).toBeNull();
  });

  it('keeps every test’s numbers in summary.json, non-finite as null', () => {
    const json = answerEmbeddingJson(moved);
    expect(json).toMatchObject({ status: 'tested', n: { reference: 80, current: 80 }, drift: true });
    expect(Object.keys(json?.tests ?? {}).sort()).toEqual(['centroid', 'classifier', 'mmd']);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});

describe('the labelled outcomes section', () => {
  const options = { alpha: 0.05, minWindow: 50 };

  it('shows the thumbs-up rate, the mean rating and the complaints’ precision against the baseline', () => {
    const feedback = compareFeedback(thumbs(160, 40, 40, 10), thumbs(100, 100, 60, 50), options);
    const reviews = compareReviews(thumbs(160, 40, 40, 10), thumbs(100, 100, 60, 50), {
      alpha: 0.05,
      minWindow: 30,
    });
    const html = labelledSection({ feedback, reviews })?.value ?? '';
    expect(html).toContain('data-chart="labelled"');
    expect(html).toMatch(
      /data-test="labelled-thumbsUpRate">.*<td class="num">80\.0%<\/td><td class="num">50\.0%<\/td>/,
    );
    expect(html).toMatch(
      /data-test="labelled-meanRating">.*<td class="num">0\.8<\/td><td class="num">0\.5<\/td>/,
    );
    expect(html).toMatch(
      /data-test="labelled-complaintPrecision">.*<td class="num">25\.0%<\/td><td class="num">83\.3%<\/td>/,
    );
    expect(html.match(/data-verdict="drift"/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('says why a signal is absent, and is absent with nothing to say', () => {
    const html = labelledSection({ notes: ['Baseline v2 (suite) has no feedback counts.'] })?.value ?? '';
    expect(html).toContain('<li>Baseline v2 (suite) has no feedback counts.</li>');
    expect(html).not.toContain('data-chart="labelled"');
    expect(labelledSection({})).toBeNull();
  });
});
