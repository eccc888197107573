import { describe, expect, it } from 'vitest';
import { checkDrift, type DriftRecord } from '#core/drift/check.ts';
import { compareJudged } from '#core/drift/online-judge.ts';
import { compareOutcomes } from '#core/drift/outcomes.ts';
import { driftSummaryJson, formatPValue, renderDriftHtml, scoreHistory } from '#core/drift/report.ts';
import { REPORT_CSP } from '#core/eval/report/html.ts';
import { createRng } from '#core/eval/stats.ts';

function window(seed: string, count: number, shift: number, texts: readonly string[]): DriftRecord[] {
  const rng = createRng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return Array.from({ length: count }, (_, i) => ({
    text: texts[i % texts.length] as string,
    embedding: Array.from({ length: 6 }, () => shift + normal()),
  }));
}

const HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="alert(1)"> & "quotes"';
const reference = window('r', 80, 0, [
  'How do I raise the memory of my function?',
  'Why does my function time out?',
  'Where are the logs of my function?',
]);
const current = window('c', 80, 1, [
  `${HOSTILE} Unfamiliar words everywhere in this much longer question about clusters and billing`,
  'Как настроить кластер Kubernetes без простоя?',
  'Our cluster bill doubled after the upgrade, which Cost Explorer view explains it?',
]);
const drifted = checkDrift(reference, current, { seed: 'report' });

describe('renderDriftHtml', () => {
  const page = renderDriftHtml(drifted, { labels: { reference: 'last-week.jsonl', current: HOSTILE } });

  it('escapes every caller text: labels and example texts', () => {
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;');
    expect(page).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;quotes&quot;');
    // The hostile current text is one of the least familiar examples, shown as text.
    expect(page).toMatch(/<pre>&lt;script&gt;/);
  });

  it('is one self-contained page under the evaluation report’s CSP', () => {
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(page).toContain(`content="${REPORT_CSP}"`);
    expect(page).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(page).not.toMatch(/<link\b/);
  });

  it('draws the projection, a histogram per continuous descriptor and bars per categorical one', () => {
    const charts = [...page.matchAll(/data-chart="([^"]+)"(?: data-descriptor="([^"]+)")?/g)].map((m) =>
      m[2] ? `${m[1]}:${m[2]}` : m[1],
    );
    expect(charts).toEqual([
      'verdict',
      'tests',
      'embedding-projection',
      'descriptor-histogram:tokens',
      'descriptor-histogram:nonLetterShare',
      'descriptor-bars:language',
      'descriptor-histogram:oovRate',
      'descriptor-bars:piiRate',
    ]);
    // Six charts, each an inline SVG with a title; every projected point is a circle.
    expect(page.match(/<svg /g)).toHaveLength(6);
    const points =
      (drifted.details.projection?.reference.length ?? 0) + (drifted.details.projection?.current.length ?? 0);
    expect(points).toBe(160);
    expect(page.match(/<circle /g)).toHaveLength(points);
    expect(page).toContain('data-series="reference"');
    expect(page).toContain('data-series="current"');
    // The overall verdict, and a row per test: three embedding tests and five descriptors.
    expect(page).toContain('<span class="badge fail" data-verdict="drift">drift</span>');
    expect(page.match(/<tr data-test="/g)).toHaveLength(8);
  });

  it('shows insufficient data as such, not as no drift', () => {
    const small = checkDrift(reference.slice(0, 10), current.slice(0, 10));
    const html = renderDriftHtml(small);
    expect(html).toContain('data-verdict="insufficient"');
    expect(html).not.toContain('data-verdict="no-drift"');
    expect(html).toContain('too little data to tell');
  });

  it('writes p-values readably', () => {
    expect(formatPValue(null)).toBe('—');
    expect(formatPValue(0.05 / 3)).toBe('0.0167');
    expect(formatPValue(1.2345e-29)).toBe('1.23e-29');
    expect(formatPValue(1)).toBe('1');
  });
});

describe('driftSummaryJson', () => {
  it('gives the CLI contract: verdicts, sizes and the report path', () => {
    const summary = driftSummaryJson(drifted, { report: '/tmp/out/report.html', details: false });
    expect(Object.keys(summary)).toEqual([
      'drift',
      'insufficient',
      'embedding',
      'descriptors',
      'n',
      'report',
    ]);
    expect(summary).toMatchObject({
      drift: true,
      insufficient: false,
      embedding: {
        method: expect.stringMatching(/^(centroid|mmd|classifier)$/),
        statistic: expect.any(Number),
        pValue: expect.any(Number),
        threshold: 0.05 / 3,
        drift: true,
        insufficient: false,
      },
      n: { reference: 80, current: 80 },
      report: '/tmp/out/report.html',
    });
    expect(Object.keys(summary.descriptors)).toEqual([
      'tokens',
      'nonLetterShare',
      'language',
      'oovRate',
      'piiRate',
    ]);
    for (const d of Object.values(summary.descriptors)) {
      expect(Object.keys(d)).toEqual(['test', 'statistic', 'pValue', 'drift', 'insufficient']);
    }
    expect(summary.descriptors.tokens).toMatchObject({ test: 'ks', drift: true });
  });

  it('adds the details for summary.json, as JSON without NaN and without the projected points', () => {
    const small = checkDrift(reference.slice(0, 10), [{ text: '?!' }, { text: '...' }]);
    const summary = driftSummaryJson(small);
    expect(summary.report).toBeNull();
    const text = JSON.stringify(summary);
    expect(text).not.toContain('NaN');
    const parsed = JSON.parse(text);
    expect(parsed.details).toMatchObject({ alpha: 0.05, minWindow: 50, seed: 'llmops-drift' });
    // No word in the current texts: oovRate has no current value, its statistic is null, not NaN.
    expect(parsed.descriptors.oovRate).toEqual({
      test: 'ks',
      statistic: null,
      pValue: null,
      drift: false,
      insufficient: true,
    });
    const full = JSON.parse(JSON.stringify(driftSummaryJson(drifted)));
    expect(full.details.projection).toEqual({
      explained: expect.any(Array),
      given: { reference: 80, current: 80 },
      shown: { reference: 80, current: 80 },
    });
    expect(full.details.embedding.tests.mmd).toMatchObject({
      pValue: expect.any(Number),
      fired: expect.any(Boolean),
    });
    expect(full.details.descriptors.tokens.histogram.edges.length).toBeGreaterThan(1);
  });
});

describe('renderDriftHtml with the quality signal', () => {
  const counts = (calls: number, errors: number, throttles = 0, guardrailInterventions = 0) => ({
    calls,
    errors,
    throttles,
    guardrailInterventions,
  });
  const judge = compareJudged(
    Array.from({ length: 20 }, (_, i) => 0.7 + (i % 5) * 0.05),
    Array.from({ length: 20 }, (_, i) => 0.3 + (i % 5) * 0.05),
    { minJudged: 10 },
  );
  const quality = compareOutcomes(counts(200, 2, 1, 0), counts(200, 30, 1, 0), {
    alpha: 0.05,
    minWindow: 50,
    judge,
  });
  const page = renderDriftHtml(drifted, { quality });

  it('shows each outcome rate and the judged relevance against the baseline, with the verdicts', () => {
    expect(page).toContain('id="quality"');
    expect(page).toMatch(
      /data-test="quality-errorRate"><th scope="row">error rate<\/th><td class="num">1\.0%<\/td><td class="num">15\.0%<\/td><td>up<\/td>/,
    );
    expect(page).toMatch(/data-test="quality-throttleRate">.*<td>same<\/td>/);
    // No intervention in either window: nothing to test, said so.
    expect(page).toMatch(/data-test="quality-guardrailRate">.*none in either window/);
    expect(page).toMatch(/data-test="quality-judge">.*<td>down<\/td>/);
    expect(quality.drift).toBe(true);
  });

  it('has no quality section without a comparison', () => {
    expect(renderDriftHtml(drifted)).not.toContain('id="quality"');
  });

  it('names the rubric version and the judge model of the judged relevance, escaped', () => {
    expect(page).not.toContain('data-test="quality-judge-rubric"');
    const labelled = compareJudged(
      Array.from({ length: 20 }, (_, i) => 0.7 + (i % 5) * 0.05),
      Array.from({ length: 20 }, (_, i) => 0.3 + (i % 5) * 0.05),
      { minJudged: 10, rubric: 'judge-answer-relevance:2', model: '<b>judge</b>' },
    );
    const withRubric = renderDriftHtml(drifted, {
      quality: compareOutcomes(counts(200, 2, 1, 0), counts(200, 30, 1, 0), {
        alpha: 0.05,
        minWindow: 50,
        judge: labelled,
      }),
    });
    expect(withRubric).toContain(
      'data-test="quality-judge-rubric">rubric judge-answer-relevance:2, judge &lt;b&gt;judge&lt;/b&gt;</span>',
    );
  });
});

describe('the scores over time', () => {
  const HOURS = ['2027-01-05T00:00:00.000Z', '2027-01-05T06:00:00.000Z', '2027-01-05T12:00:00.000Z'];
  const at = (i: number) => HOURS[i] as string;
  const signal = (score: number | null) => ({ score });
  // As the store lists them: newest first; the second window was too small for the descriptors.
  const recorded = [
    { window: { end: at(2) }, signals: { embedding: signal(3.4), descriptors: signal(1.2) } },
    { window: { end: at(1) }, signals: { embedding: signal(0.5), descriptors: signal(null) } },
    { window: { end: at(0) }, signals: { embedding: signal(0.2), descriptors: signal(0.1) } },
  ];
  const history = scoreHistory(recorded);
  const page = renderDriftHtml(drifted, { history });
  /** The markup of one signal's series. */
  const seriesOf = (name: string) => new RegExp(`<g data-series="${name}">(.*?)</g>`).exec(page)?.[1] ?? '';

  it("orders a check's recorded windows oldest first, each signal's score by window", () => {
    expect(history).toEqual([
      { end: at(0), scores: { embedding: 0.2, descriptors: 0.1 } },
      { end: at(1), scores: { embedding: 0.5, descriptors: null } },
      { end: at(2), scores: { embedding: 3.4, descriptors: 1.2 } },
    ]);
    // A window given twice (the current one, recorded meanwhile) is one window.
    expect(scoreHistory([...recorded, recorded[0] as (typeof recorded)[number]])).toHaveLength(3);
    // A window compared with nothing (no baseline yet, or pinned as the baseline) has no signal: left out.
    expect(scoreHistory([...recorded, { window: { end: '2027-01-04T18:00:00.000Z' }, signals: {} }])).toEqual(
      history,
    );
  });

  it('draws one line per signal against the dashed threshold, after the table of tests', () => {
    const charts = [...page.matchAll(/data-chart="([^"]+)"/g)].map((m) => m[1]);
    expect(charts.slice(0, 4)).toEqual(['verdict', 'tests', 'score-history', 'embedding-projection']);
    expect(page).toContain('<h2 id="history-h">Scores over time</h2>');
    expect(page).toMatch(/<line data-threshold="1" [^>]*stroke-dasharray="6 4"\/>/);
    // The embedding signal: a point per window and one line through the three.
    expect(seriesOf('embedding').match(/<circle /g)).toHaveLength(3);
    expect(seriesOf('embedding').match(/<path /g)).toHaveLength(1);
    expect(seriesOf('embedding')).toContain(
      'embedding, window ending 2027-01-05T12:00:00.000Z: score 3.4 (at or above the threshold)',
    );
  });

  it('breaks a line where a window had no score (insufficient data), never drawing a 0', () => {
    // Two points either side of the gap, each alone: no line joins them.
    expect(seriesOf('descriptors').match(/<circle /g)).toHaveLength(2);
    expect(seriesOf('descriptors')).not.toContain('<path ');
    // The data table says so too: a dash, not 0.
    expect(page).toMatch(
      /<th scope="row">2027-01-05T06:00:00\.000Z<\/th><td class="num">0\.5<\/td><td class="num">—<\/td>/,
    );
  });

  it('escapes the names and ends it is given', () => {
    const hostile = renderDriftHtml(drifted, {
      history: [{ end: HOSTILE, scores: { [HOSTILE]: 1 } }],
    });
    expect(hostile).not.toContain('<script');
    expect(hostile).toContain('data-chart="score-history"');
  });

  it('has no history section for a one-off comparison', () => {
    expect(renderDriftHtml(drifted)).not.toContain('data-chart="score-history"');
    expect(renderDriftHtml(drifted, { history: [] })).not.toContain('id="history"');
  });
});
