import { html, type SafeHtml } from '../eval/report/escape.ts';
import { formatCount, formatPercent, jsonNumber, MISSING } from '../eval/report/format.ts';
import { type DriftCheckResult, EMBEDDING_METHODS } from './check.ts';
import type {
  FeedbackComparison,
  FeedbackTest,
  LabelledTest,
  ReviewComparison,
  ReviewTest,
} from './labelled.ts';
import {
  badge,
  formatPValue,
  formatStatistic,
  METHOD_LABELS,
  scatterChart,
  type Verdict,
  verdictOf,
} from './report.ts';

/**
 * The drift report's sections of a scheduled check of live traffic, beyond the questions' tests and the
 * outcome rates (`report.ts` renders them after the quality section through its `sections` option):
 *
 * - {@link answerEmbeddingSection}: the answers' embedding family (`data-chart="answer-embedding"`): its
 *   three tests, its verdict (or "no baseline", or insufficient data) and the answers' projection
 *   (`data-chart="answer-projection"`);
 * - {@link labelledSection}: the labelled outcomes (`data-chart="labelled"`): the thumbs-up rate and the
 *   mean rating of the users' feedback, and the precision of the complaints the reviewers labelled, each
 *   against the baseline's, or why there is none.
 *
 * {@link answerEmbeddingJson} is the family's part of `summary.json`.
 */

/** The answers' embedding family as `summary.json` keeps it; `null` when no record has an answer embedding. */
export function answerEmbeddingJson(result: DriftCheckResult) {
  const d = result.details.answerEmbedding;
  if (d === null) return null;
  const v = result.answerEmbedding;
  const tests = d.embedding;
  return {
    status: d.status,
    n: d.n,
    method: v?.method ?? null,
    statistic: jsonNumber(v?.statistic),
    pValue: jsonNumber(v?.pValue),
    threshold: v?.threshold ?? null,
    drift: v?.drift ?? false,
    insufficient: v?.insufficient ?? false,
    tests:
      tests &&
      Object.fromEntries(
        EMBEDDING_METHODS.map((name) => [
          name,
          {
            statistic: jsonNumber(tests.tests[name].statistic),
            pValue: jsonNumber(tests.tests[name].pValue),
            fired: tests.fired[name],
            insufficient: tests.tests[name].insufficient === true,
          },
        ]),
      ),
    projection: d.projection && { explained: d.projection.explained, given: d.projection.given },
  };
}

/** The answers' embedding family; `null` when no record of either window carries an answer embedding. */
export function answerEmbeddingSection(
  result: DriftCheckResult,
  labels: { readonly reference: string; readonly current: string },
): SafeHtml | null {
  const d = result.details.answerEmbedding;
  if (d === null) return null;
  const v = result.answerEmbedding;
  const counts = `${formatCount(d.n.current)} answers in this window, ${formatCount(d.n.reference)} in the reference.`;
  if (d.status === 'no-baseline' || v === null) {
    return html`<section id="answer-embeddings" aria-labelledby="ans-h"><h2 id="ans-h">Answers' embeddings <span class="badge warn" data-verdict="no-baseline">no baseline</span></h2>
<p data-chart="answer-embedding" data-status="no-baseline">${counts} The baseline carries no answer embedding (built from questions only, or before answers were embedded): nothing to compare with, which is not drift. A new baseline from a traffic window has them.</p></section>`;
  }
  const tests = d.embedding;
  const rows = tests
    ? EMBEDDING_METHODS.map((name) => {
        const t = tests.tests[name];
        const verdict: Verdict = tests.fired[name] ? 'drift' : t.insufficient ? 'insufficient' : 'no-drift';
        return html`<tr data-test="answer-embedding-${name}"><td>${METHOD_LABELS[name]}</td><td class="num">${formatStatistic(t.statistic)}</td><td class="num">${formatPValue(t.pValue)}</td><td class="num">${formatPValue(tests.threshold)}</td><td>${badge(verdict)}</td></tr>`;
      })
    : [];
  const sentence = v.drift
    ? `The ${METHOD_LABELS[v.method]} test fired first: p = ${formatPValue(v.pValue)} at most ${formatPValue(v.threshold)}.`
    : v.insufficient
      ? 'A window has too few answers for the tests to tell: insufficient data, not "no drift".'
      : `No test reached ${formatPValue(v.threshold)}.`;
  const projection = d.projection
    ? html`<figure data-chart="answer-projection">${scatterChart(
        {
          id: 'chart-answer-projection',
          title: "Answers' embeddings projected on their two principal components",
          desc: `${formatCount(d.projection.reference.length)} reference and ${formatCount(d.projection.current.length)} current answer embeddings, projected on the first two principal components of the pooled sample.`,
        },
        d.projection,
        labels,
      )}<figcaption>PCA of the pooled answer embeddings; grey: reference, blue: current.</figcaption></figure>`
    : null;
  return html`<section id="answer-embeddings" aria-labelledby="ans-h"><h2 id="ans-h">Answers' embeddings ${badge(verdictOf(v))}</h2>
<p>${counts} ${sentence} Published as its own score (signal <code>answerEmbedding</code>); it does not page.</p>
<div class="scroll"><table data-chart="answer-embedding" data-status="${d.status}"><caption>The questions' three tests on the answers' embeddings, each at alpha / 3.</caption><thead><tr><th scope="col">Test</th><th scope="col" class="num">Statistic</th><th scope="col" class="num">p-value</th><th scope="col" class="num">Threshold</th><th scope="col">Verdict</th></tr></thead><tbody>${rows}</tbody></table></div>${projection}</section>`;
}

const LABELLED_TESTS: Readonly<Record<FeedbackTest | ReviewTest, { label: string; test: string }>> = {
  thumbsUpRate: {
    label: 'thumbs-up rate (up, 4-5 stars among the polar verdicts)',
    test: 'chi-squared χ² (Yates)',
  },
  meanRating: { label: 'mean rating (0 down … 1 up)', test: 'Mann–Whitney U' },
  complaintPrecision: {
    label: 'complaints confirmed by a reviewer (precision of the complaints)',
    test: 'chi-squared χ² (Yates)',
  },
};

function testRow(name: FeedbackTest | ReviewTest, t: LabelledTest): SafeHtml {
  const figure = (x: number | null) =>
    name === 'meanRating' ? formatStatistic(x) : x === null ? MISSING : formatPercent(x);
  const verdict: Verdict | 'skipped' = t.drift
    ? 'drift'
    : t.status === 'insufficient'
      ? 'insufficient'
      : t.status === 'skipped'
        ? 'skipped'
        : 'no-drift';
  const n = `${formatCount(t.n.current)} (baseline ${formatCount(t.n.reference)})`;
  return html`<tr data-test="labelled-${name}"><th scope="row">${LABELLED_TESTS[name].label}</th><td class="num">${n}</td><td class="num">${figure(t.reference)}</td><td class="num">${figure(t.current)}</td><td>${t.direction ?? MISSING}</td><td>${LABELLED_TESTS[name].test}</td><td class="num">${formatStatistic(t.statistic)}</td><td class="num">${formatPValue(t.pValue)}</td><td class="num">${formatPValue(t.adjustedPValue)}</td><td>${verdict === 'skipped' ? html`<span class="muted">nothing to compare</span>` : badge(verdict)}</td></tr>`;
}

export interface LabelledSectionInput {
  readonly feedback?: FeedbackComparison;
  readonly reviews?: ReviewComparison;
  /** Why a signal is absent (no baseline with feedback, no feedback store): one sentence each. */
  readonly notes?: readonly string[];
}

/** The labelled outcomes: the users' feedback and the reviewed complaints against the baseline's. */
export function labelledSection(input: LabelledSectionInput): SafeHtml | null {
  const { feedback, reviews } = input;
  const notes = input.notes ?? [];
  if (feedback === undefined && reviews === undefined && notes.length === 0) return null;
  const signalVerdict = (c: { drift: boolean; insufficient: boolean }): Verdict => verdictOf(c);
  const rows = [
    ...(feedback
      ? (['thumbsUpRate', 'meanRating'] as const).map((name) => testRow(name, feedback.tests[name]))
      : []),
    ...(reviews ? [testRow('complaintPrecision', reviews.tests.complaintPrecision)] : []),
  ];
  const counts = feedback ?? reviews;
  const lead = counts
    ? html`<p class="muted">Verdicts on ${formatCount(counts.current.answered)} answered calls of this window: ${formatCount(counts.current.verdicts)} (baseline ${formatCount(counts.reference.verdicts)} on ${formatCount(counts.reference.answered)}). Only a worsening drifts: a falling thumbs-up rate or mean rating (Benjamini–Hochberg at ${formatPValue(counts.alpha)} across the two), a rising share of confirmed complaints.</p>`
    : null;
  const badges = [
    ...(feedback ? [html`feedback ${badge(signalVerdict(feedback))}`] : []),
    ...(reviews ? [html` reviews ${badge(signalVerdict(reviews))}`] : []),
  ];
  const table =
    rows.length > 0
      ? html`<div class="scroll"><table data-chart="labelled"><caption>What people said of the answers, in the baseline and in this window.</caption><thead><tr><th scope="col">Outcome</th><th scope="col" class="num">n</th><th scope="col" class="num">Baseline</th><th scope="col" class="num">Window</th><th scope="col">Direction</th><th scope="col">Test</th><th scope="col" class="num">Statistic</th><th scope="col" class="num">p-value</th><th scope="col" class="num">Adjusted p</th><th scope="col">Verdict</th></tr></thead><tbody>${rows}</tbody></table></div>`
      : null;
  const notesList = notes.length > 0 ? html`<ul>${notes.map((n) => html`<li>${n}</li>`)}</ul>` : null;
  return html`<section id="labelled" aria-labelledby="labelled-h"><h2 id="labelled-h">Feedback and reviews ${badges}</h2>
${lead}${table}${notesList}</section>`;
}
