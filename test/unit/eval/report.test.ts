import type { ChildNode, Element } from 'domhandler';
import { parseDocument } from 'htmlparser2';
import { describe, expect, it } from 'vitest';
import { clipForHtml, escapeHtml, escapeMarkdown, html, truncate } from '#core/eval/report/escape.ts';
import { formatCi, formatPercent, formatScore, formatSigned, formatUsd } from '#core/eval/report/format.ts';
import { REPORT_CSP, renderHtml } from '#core/eval/report/html.ts';
import { renderMarkdown } from '#core/eval/report/markdown.ts';
import { itemsJsonl, summaryJson } from '#core/eval/report/summary.ts';
import { barChart, histogram, histogramBins, niceDomain } from '#core/eval/report/svg.ts';
import type { ItemRecord, RunReport, RunWinRate } from '#core/eval/report/types.ts';
import type { MetricSummary } from '#core/eval/types.ts';

const METRICS = ['exact_match', 'f1', 'rouge_l'] as const;
const HOSTILE = '<img src=x onerror=alert(1)>';
const BREAKOUT = '</svg><script>alert(1)</script>';

function metric(name: string, value: number, tags: Record<string, number> = {}): MetricSummary {
  const byTag: Record<string, { value: number; n: number; ci: [number, number] }> = {};
  for (const [tag, v] of Object.entries(tags)) byTag[tag] = { value: v, n: 20, ci: [v - 0.1, v + 0.1] };
  return { name, value, n: 100, ci: [value - 0.05, value + 0.05], failed: 1, byTag };
}

function item(i: number, overrides: Partial<ItemRecord> = {}): ItemRecord {
  const score = (i % 10) / 10;
  return {
    id: `item-${String(i).padStart(4, '0')}`,
    tags: [i % 2 === 0 ? 'billing' : 'shipping'],
    input: `Question ${i}?`,
    answer: `Answer ${i}.`,
    references: [`Reference ${i}.`],
    contexts: [`Context ${i}.`],
    scores: { exact_match: score, f1: Math.min(1, score + 0.05), rouge_l: score },
    errors: {},
    rationales: { f1: [`Reason for ${i}.`] },
    latencyMs: 400 + i,
    tokens: 300,
    costUsd: 0.0004,
    ...overrides,
  };
}

function makeReport(overrides: Partial<RunReport> = {}, items: ItemRecord[] = []): RunReport {
  const list = items.length > 0 ? items : Array.from({ length: 20 }, (_, i) => item(i));
  return {
    runId: 'run-42',
    suite: { name: 'support-qa', version: 3, items: list.length },
    target: { prompt: 'support-answer@7', model: 'model-b' },
    baseline: { prompt: 'support-answer@6', model: 'model-a' },
    startedAt: '2025-01-01T10:00:00.000Z',
    finishedAt: '2025-01-01T10:02:05.000Z',
    judge: { model: 'judge-1', offline: false },
    metrics: METRICS.map((m, k) => metric(m, 0.6 + k * 0.1, { billing: 0.5, shipping: 0.7 })),
    baselineMetrics: METRICS.map((m, k) => metric(m, 0.58 + k * 0.1)),
    gate: {
      pass: false,
      metrics: [
        {
          name: 'f1',
          verdict: 'pass',
          diff: { value: 0.02, n: 100, ci: [-0.01, 0.05] },
          margin: 0.02,
          reason: 'Within margin.',
        },
        {
          name: 'exact_match',
          verdict: 'fail',
          diff: { value: -0.06, n: 100, ci: [-0.1, -0.03] },
          margin: 0.02,
          reason: 'Below margin.',
        },
      ],
    },
    items: list,
    operational: {
      latencyP50: 420,
      latencyP95: 1830,
      tokensPerItem: 300,
      costPerItem: 0.0004,
      costTotal: 0.008,
    },
    failed: 0,
    ...overrides,
  };
}

function elements(node: { children?: ChildNode[] }, out: Element[] = []): Element[] {
  for (const child of node.children ?? []) {
    if (child.type === 'tag' || child.type === 'script' || child.type === 'style') {
      out.push(child as Element);
      elements(child as Element, out);
    }
  }
  return out;
}

function text(node: ChildNode): string {
  if (node.type === 'text') return node.data;
  return 'children' in node ? node.children.map(text).join('') : '';
}

function parse(source: string) {
  const doc = parseDocument(source);
  const all = elements(doc);
  return { doc, all, named: (name: string) => all.filter((e) => e.name === name) };
}

describe('summaryJson', () => {
  it('reports every metric by name with value, n, interval, failed count and tags', () => {
    const f1: MetricSummary = {
      name: 'f1',
      value: 0.7,
      n: 100,
      ci: [0.65, 0.75],
      failed: 1,
      byTag: { billing: { value: 0.5, n: 20, ci: [0.25, 0.75] } },
      judge: { model: 'judge-1', rubric: 'f1-v1', calibrated: true },
    };
    const base = makeReport();
    const report = makeReport({
      metrics: [metric('exact_match', 0.5), f1, metric('rouge_l', 0.5)],
      baselineMetrics: [{ ...f1, value: 0.5, ci: [0.25, 0.75], byTag: {} }],
      gate: base.gate,
    });
    const summary = summaryJson(report, { reportPath: 's3://artifacts/evals/run-42/report.html' });
    expect(Object.keys(summary.metrics)).toEqual(['exact_match', 'f1', 'rouge_l']);
    expect(summary.metrics.f1).toEqual({
      value: 0.7,
      n: 100,
      ci: [0.65, 0.75],
      failed: 1,
      byTag: { billing: { value: 0.5, n: 20, ci: [0.25, 0.75] } },
      baseline: { value: 0.5, n: 100, ci: [0.25, 0.75] },
      judge: { model: 'judge-1', rubric: 'f1-v1', calibrated: true },
    });
    expect(summary.metrics.exact_match).not.toHaveProperty('baseline');
    expect(summary).toMatchObject({
      runId: 'run-42',
      suite: { name: 'support-qa', version: 3, items: 20 },
      target: { prompt: 'support-answer@7', model: 'model-b' },
      baseline: { prompt: 'support-answer@6', model: 'model-a' },
      items: 20,
      failed: 0,
      pass: false,
      judge: { model: 'judge-1', offline: false },
      operational: {
        latencyP50: 420,
        latencyP95: 1830,
        tokensPerItem: 300,
        costPerItem: 0.0004,
        costTotal: 0.008,
      },
      report: 's3://artifacts/evals/run-42/report.html',
    });
    expect(summary.gate?.metrics.map((g) => [g.name, g.verdict])).toEqual([
      ['f1', 'pass'],
      ['exact_match', 'fail'],
    ]);
  });

  it('writes numbers that are not finite as null and a missing gate as pass null', () => {
    const base = makeReport();
    const summary = summaryJson(
      makeReport({
        gate: undefined,
        baseline: undefined,
        baselineMetrics: undefined,
        metrics: [{ ...metric('f1', Number.NaN), n: 0, ci: [Number.NaN, Number.NaN] }],
        operational: { ...base.operational, costTotal: Number.NaN },
      }),
    );
    expect(summary.pass).toBeNull();
    expect(summary.gate).toBeNull();
    expect(summary.baseline).toBeNull();
    expect(summary.metrics.f1).toMatchObject({ value: null, ci: [null, null] });
    expect(summary.operational.costTotal).toBeNull();
    expect('report' in summary).toBe(false);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
  });
});

describe('itemsJsonl', () => {
  it('writes one object per item with its input, answer, contexts, every score and the judge rationales', () => {
    const report = makeReport();
    const lines = itemsJsonl(report).split('\n');
    expect(lines.at(-1)).toBe('');
    const parsed = lines.slice(0, -1).map((line) => JSON.parse(line));
    expect(parsed).toHaveLength(20);
    expect(parsed[3]).toEqual({
      id: 'item-0003',
      tags: ['shipping'],
      input: 'Question 3?',
      answer: 'Answer 3.',
      references: ['Reference 3.'],
      contexts: ['Context 3.'],
      scores: { exact_match: 0.3, f1: 0.35, rouge_l: 0.3 },
      errors: {},
      rationales: { f1: ['Reason for 3.'] },
      error: null,
      latencyMs: 403,
      tokens: 300,
      costUsd: 0.0004,
      unstable: [],
      judgements: {},
    });
  });

  it('keeps a line of text with newlines and separators on one line', () => {
    const jsonl = itemsJsonl(makeReport({}, [item(1, { answer: 'two\nlines\u2028and more' })]));
    expect(jsonl.split('\n')).toHaveLength(2);
    expect(JSON.parse(jsonl.split('\n')[0] ?? '').answer).toBe('two\nlines\u2028and more');
  });
});

describe('renderHtml', () => {
  const page = renderHtml(makeReport());
  const { doc, all, named } = parse(page);

  it('is one offline file with a strict Content-Security-Policy and nothing to fetch', () => {
    const csp = named('meta').find((m) => m.attribs['http-equiv'] === 'Content-Security-Policy');
    expect(csp?.attribs.content).toBe("default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    expect(REPORT_CSP).toBe(csp?.attribs.content);
    expect(named('meta')[0]?.attribs.charset).toBe('utf-8');
    expect(page).not.toMatch(/<script/i);
    for (const name of [
      'script',
      'link',
      'iframe',
      'object',
      'embed',
      'img',
      'base',
      'form',
      'image',
      'use',
    ]) {
      expect(named(name)).toHaveLength(0);
    }
    for (const el of all) {
      for (const [attr, value] of Object.entries(el.attribs)) {
        if (['src', 'href', 'xlink:href', 'action'].includes(attr)) expect(value).toMatch(/^#/);
        expect(attr.startsWith('on')).toBe(false);
      }
    }
    expect(page).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(page).not.toMatch(/url\(|@import/i);
  });

  it('draws each chart as an accessible SVG with a title, a description, explicit size and a data table', () => {
    const svgs = named('svg');
    // metrics, gate differences, baseline pairs, 3 metrics by tag, 3 histograms
    expect(svgs).toHaveLength(9);
    const ids = new Set(all.map((e) => e.attribs.id).filter(Boolean));
    for (const svg of svgs) {
      expect(svg.attribs.role).toBe('img');
      expect(Number(svg.attribs.width)).toBeGreaterThan(0);
      expect(Number(svg.attribs.height)).toBeGreaterThan(0);
      expect(svg.attribs.viewbox).toBe(`0 0 ${svg.attribs.width} ${svg.attribs.height}`);
      const [first, second] = svg.children.filter((c): c is Element => c.type === 'tag');
      expect(first?.name).toBe('title');
      expect(text(first as Element).length).toBeGreaterThan(5);
      expect(second?.name).toBe('desc');
      for (const id of (svg.attribs['aria-labelledby'] ?? '').split(' ')) expect(ids.has(id)).toBe(true);
      const figure = svg.parent as Element;
      expect(figure.name).toBe('figure');
      expect(elements(figure).some((e) => e.name === 'table')).toBe(true);
    }
    expect(ids.size).toBe(all.filter((e) => e.attribs.id).length);
  });

  it('shows the verdict, the gate table, the operational numbers and the judge', () => {
    const body = text(doc as unknown as ChildNode);
    expect(text(named('h1')[0] as Element)).toContain('FAIL');
    expect(body).toContain('Failed the gate on exact_match (fail)');
    const gate = all.find((e) => e.attribs.id === 'gate') as Element;
    const gateRows = elements(gate).filter((e) => e.name === 'tbody')[0] as Element;
    expect(text(gateRows)).toContain('Below margin.');
    expect(body).toContain('420 ms');
    expect(body).toContain('1.83 s');
    expect(body).toContain('$0.0004');
    expect(body).toContain('judge-1');
    expect(body).toContain('online judge');
    expect(body).not.toContain('not for gating');
  });

  it('badges an offline judge as not for gating', () => {
    const offline = renderHtml(makeReport({ judge: { model: 'heuristic', offline: true } }));
    expect(offline).toContain('offline — not for gating');
  });

  it('lists the worst items on the primary metric, lowest first, with their reasons', () => {
    const articles = named('article');
    expect(articles).toHaveLength(10);
    const headings = articles.map((a) => text(elements(a).find((e) => e.name === 'h3') as Element));
    // f1 is the first gated metric, so it ranks the items.
    expect(headings[0]).toContain('item-0000');
    expect(headings[0]).toContain('f1 0.050');
    expect(text(articles[0] as Element)).toContain('Reason for 0.');
    expect(text(articles[0] as Element)).toContain('Reference 0.');
    const ranked = renderHtml(makeReport({ primaryMetric: 'rouge_l' }), { worstItems: 3 });
    expect(parse(ranked).named('article')).toHaveLength(3);
    expect(ranked).toContain('Worst items on rouge_l');
  });

  it('escapes hostile text in answers, inputs, ids, tags, names and chart titles', () => {
    const hostile = makeReport(
      {
        suite: { name: BREAKOUT, version: '"><x', items: 2 },
        judge: { model: HOSTILE, offline: true },
        metrics: [metric('f1', 0.5, { [BREAKOUT]: 0.4, [HOSTILE]: 0.6 })],
        baselineMetrics: undefined,
        gate: undefined,
      },
      [
        item(0, {
          id: HOSTILE,
          answer: `${HOSTILE} ${BREAKOUT}`,
          input: `" onmouseover="alert(1) ${BREAKOUT}`,
          references: [BREAKOUT],
          rationales: { f1: [HOSTILE] },
          tags: [BREAKOUT],
          scores: { f1: 0, [BREAKOUT]: 0.5 },
          errors: { [HOSTILE]: BREAKOUT },
        }),
        item(1, { error: HOSTILE }),
      ],
    );
    const out = renderHtml(hostile);
    const parsed = parse(out);
    expect(out).not.toMatch(/<script/i);
    expect(out).not.toMatch(/<img/i);
    expect(parsed.named('script')).toHaveLength(0);
    expect(parsed.named('img')).toHaveLength(0);
    expect(parsed.named('x')).toHaveLength(0);
    for (const el of parsed.all)
      for (const attr of Object.keys(el.attribs)) expect(attr.startsWith('on')).toBe(false);
    // The text survives, as text: in the answer block, and in the by-tag chart's <title>s.
    const pres = parsed.named('pre').map((p) => text(p));
    expect(pres).toContain(`${HOSTILE} ${BREAKOUT}`);
    const svgTitles = parsed.named('title').map((t) => text(t));
    expect(svgTitles.some((t) => t.includes(BREAKOUT))).toBe(true);
    expect(parsed.named('svg').length).toBeGreaterThan(0);
    for (const svg of parsed.named('svg')) expect(elements(svg).every((e) => e.name !== 'script')).toBe(true);
  });

  it('stays under 200 KB for 500 items, with only the worst items in detail', () => {
    const long = `${'word '.repeat(600)}${HOSTILE}`;
    const tags = Array.from({ length: 40 }, (_, t) => `topic-${t}`);
    const items = Array.from({ length: 500 }, (_, i) =>
      item(i, {
        input: long,
        answer: long,
        references: [long, long, long, long],
        contexts: Array.from({ length: 8 }, () => long),
        rationales: Object.fromEntries(METRICS.map((m) => [m, [long, long, long, long]])),
        tags: [tags[i % 40] ?? 'x', 'all'],
        unstable: i % 7 === 0 ? ['f1'] : [],
      }),
    );
    const byTag = Object.fromEntries(tags.map((t, k) => [t, (k % 10) / 10]));
    const report = makeReport({ metrics: METRICS.map((m) => metric(m, 0.5, byTag)) }, items);
    const out = renderHtml(report);
    const bytes = Buffer.byteLength(out, 'utf8');
    expect(bytes).toBeLessThan(200 * 1024);
    expect(parse(out).named('article')).toHaveLength(10);
    expect(out).not.toContain('item-0499');
    expect(out).toContain('the 12 most frequent of 40 tags');
  });

  it('stays under 200 KB for 500 items whose every text is made of characters that escape long', () => {
    const heavy = `"<&'😀`.repeat(2000);
    const tags = Array.from({ length: 60 }, (_, t) => `${heavy.slice(0, 400)}${t}`);
    const items = Array.from({ length: 500 }, (_, i) =>
      item(i, {
        id: `${heavy.slice(0, 300)}${i}`,
        input: heavy,
        answer: heavy,
        references: [heavy, heavy, heavy],
        contexts: [heavy, heavy, heavy],
        rationales: Object.fromEntries(METRICS.map((m) => [m, [heavy, heavy, heavy]])),
        errors: { rouge_l: heavy },
        tags,
        ...(i % 50 === 0 ? { error: heavy } : {}),
      }),
    );
    const byTag = Object.fromEntries(
      tags.map((t) => [t, { value: 0.5, n: 10, ci: [0.4, 0.6] as [number, number] }]),
    );
    const out = renderHtml(
      makeReport(
        {
          runId: heavy,
          suite: { name: heavy, version: heavy, items: 500 },
          judge: { model: heavy, offline: true },
          target: { prompt: heavy, model: heavy },
          baseline: { prompt: heavy, model: heavy },
          gate: {
            pass: false,
            metrics: METRICS.map((name) => ({
              name,
              verdict: 'fail' as const,
              diff: { value: -0.1, n: 500, ci: [-0.2, 0] as [number, number] },
              margin: 0.02,
              reason: heavy,
            })),
          },
          failed: 10,
          metrics: METRICS.map((m) => ({ ...metric(m, 0.5), byTag })),
        },
        items,
      ),
    );
    expect(Buffer.byteLength(out, 'utf8')).toBeLessThan(200 * 1024);
    expect(parse(out).named('script')).toHaveLength(0);
  });

  it('shows missing numbers as a dash', () => {
    const base = makeReport();
    const out = renderHtml(
      makeReport({
        operational: { ...base.operational, latencyP95: Number.NaN, costTotal: Number.NaN },
        metrics: [{ ...metric('f1', Number.NaN), ci: [Number.NaN, Number.NaN] }],
      }),
    );
    const operational = parse(out).all.find((e) => e.attribs.id === 'operational') as Element;
    expect(text(operational)).toMatch(/Latency p95—/);
    expect(text(operational)).toMatch(/Total cost—/);
  });
});

describe('judge stability in the reports', () => {
  const faithfulness: MetricSummary = {
    ...metric('faithfulness', 0.8),
    n: 40,
    unstable: 60,
    judge: { model: 'judge-1', rubric: 'judge-faithfulness:1', calibrated: true },
    repeats: { k: 3, judged: 100, unstableShare: 0.6, passHatK: 0.35, passHatKItems: 100 },
  };
  const shaky = (i: number) =>
    item(i, {
      id: `${HOSTILE}-${i}`,
      scores: { faithfulness: 0.5 },
      unstable: ['faithfulness'],
      judgements: {
        faithfulness: {
          judge: 'judge-1',
          rubric: 'judge-faithfulness:1',
          k: 3,
          repeats: [1, 0, null],
          mean: 0.5,
          spread: 1,
          stable: false,
          passAll: false,
        },
      },
    });
  const report = makeReport({ metrics: [faithfulness], gate: undefined, baselineMetrics: undefined }, [
    ...Array.from({ length: 60 }, (_, i) => shaky(i)),
    item(60),
  ]);

  it('lists at most 50 unstable items with their repeats, escaped, and says where the rest are', () => {
    const page = renderHtml(report);
    const { named } = parse(page);
    const section = named('section').find((e) => e.attribs.id === 'stability');
    expect(section).toBeDefined();
    const rows = elements(section as Element).filter((e) => e.name === 'tr');
    // One header and one metric row in the first table; one header and 50 items in the second.
    expect(rows).toHaveLength(2 + 1 + 50);
    const cells = elements(section as Element).filter((e) => e.name === 'td');
    expect(cells.filter((td) => text(td) === '1.000, 0.000, —')).toHaveLength(50);
    expect(text(section as Element)).toContain('10 more in items.jsonl.');
    expect(text(section as Element)).toContain('judge-1 · judge-faithfulness:1');
    expect(page).not.toContain(HOSTILE);
  });

  it('gives summary.json the count and the repeats, and the Markdown one line per judge metric', () => {
    expect(summaryJson(report).metrics.faithfulness).toMatchObject({
      n: 40,
      unstable: 60,
      repeats: { k: 3, judged: 100, unstableShare: 0.6, passHatK: 0.35, passHatKItems: 100 },
    });
    const line = renderMarkdown(report)
      .split('\n')
      .filter((l) => l.startsWith('- **faithfulness**'));
    expect(line).toEqual([
      '- **faithfulness**: judge-1 · judge-faithfulness:1 · k = 3 · pass^3 0.350 over 100 items · 60 unstable of 100 judged (60.0%)',
    ]);
    // A run without judge metrics has neither the section nor the line.
    expect(renderHtml(makeReport())).not.toContain('id="stability"');
    expect(renderMarkdown(makeReport())).not.toContain('Judge repeats');
  });
});

describe('renderMarkdown', () => {
  it('leads with the verdict and gives one table row per metric with its interval, Δ and verdict', () => {
    const md = renderMarkdown(makeReport());
    const lines = md.split('\n');
    expect(lines[0]).toBe('## ❌ Evaluation failed: support-qa v3');
    expect(md).toContain('| Metric | Value [95% CI] | n | Δ vs baseline [95% CI] | Verdict |');
    expect(md).toContain(
      '| exact\\_match | 0.600 [0.550, 0.650] | 100 | -0.060 [-0.100, -0.030] | ❌ fail |',
    );
    expect(md).toContain('| f1 | 0.700 [0.650, 0.750] | 100 | +0.020 [-0.010, +0.050] | ✅ pass |');
    expect(md).toMatch(/\| rouge\\_l \| 0\.800 \[0\.750, 0\.850\] \| 100 \| \+0\.020 \| — \|/);
    expect(md).toContain('**Failed items:** 0 of 20 (0.0%)');
    expect(md).toContain('**Judge:** judge-1');
    expect(md).not.toContain('not for gating');
    expect(renderMarkdown(makeReport({ suite: { name: 'qa', version: 'v3', items: 20 } }))).toMatch(
      /^## ❌ Evaluation failed: qa v3\n/,
    );
    expect(renderMarkdown(makeReport({ gate: undefined }))).toMatch(
      /^## ℹ️ Evaluation finished: .*\(no gate\)/,
    );
  });

  it('labels an offline judge and shows the three worst items, escaped and truncated, in table cells', () => {
    const nasty = `a | b \`code\`\nnext line <b>bold</b> @octocat ${'x'.repeat(300)}`;
    const items = [
      item(0, { answer: nasty, input: 'pipe | in\r\ninput' }),
      ...Array.from({ length: 9 }, (_, i) => item(i + 1)),
    ];
    const md = renderMarkdown(makeReport({ judge: { model: 'heuristic', offline: true } }, items));
    expect(md).toContain('**Judge:** heuristic — ⚠️ offline, not for gating');
    const table = md.split('\n').filter((l) => l.startsWith('| item-'));
    expect(table).toHaveLength(3);
    for (const row of table) expect(row.split(/(?<!\\)\|/)).toHaveLength(7);
    const first = table[0] ?? '';
    expect(first).toContain('a \\| b \\`code\\` next line &lt;b&gt;bold&lt;/b&gt; @\u2060octocat');
    expect(first).toContain('pipe \\| in input');
    expect(first).toContain('…');
    expect(first).not.toContain('x'.repeat(200));
  });
});

describe('the pairwise win rate in the reports', () => {
  const WIN_RATE: RunWinRate = {
    raw: { value: 0.7, n: 20, ci: [0.5, 0.875] },
    lengthControlled: { value: 0.4407, n: 20, ci: [0.0081, 0.8078] },
    model: { intercept: -0.238, slope: 3.381, scale: 35.9, iterations: 7, converged: true },
    n: 20,
    wins: 13,
    losses: 5,
    ties: 1,
    inconsistent: 1,
    failed: 2,
    judge: 'judge-1',
    rubric: 'judge-pairwise:1',
  };
  const report = makeReport({ winRate: WIN_RATE }, [
    item(0, { preference: 'A' }),
    ...Array.from({ length: 19 }, (_, i) => item(i + 1)),
  ]);

  it('gives summary.json a winRate with both rates, their intervals, the counts, the judge and rubric', () => {
    expect(summaryJson(report).winRate).toEqual({
      raw: { value: 0.7, ci: [0.5, 0.875] },
      lengthControlled: { value: 0.4407, ci: [0.0081, 0.8078] },
      n: 20,
      wins: 13,
      losses: 5,
      ties: 1,
      inconsistent: 1,
      failed: 2,
      judge: 'judge-1',
      rubric: 'judge-pairwise:1',
    });
    // Not a pairwise run: no key at all (the summary's other fields are unchanged).
    expect('winRate' in summaryJson(makeReport())).toBe(false);
    const empty = { ...WIN_RATE, raw: { value: Number.NaN, n: 0, ci: [Number.NaN, Number.NaN] as const } };
    expect(summaryJson(makeReport({ winRate: empty })).winRate?.raw).toEqual({
      value: null,
      ci: [null, null],
    });
  });

  it("writes each item's preference to items.jsonl, only on a pairwise run", () => {
    const [first, second] = itemsJsonl(report)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(first.preference).toBe('A');
    expect(second).not.toHaveProperty('preference');
  });

  it('draws a small section with both rates, a chart against ½, the counts and the judge, marked as not gating', () => {
    const page = renderHtml(report);
    const parsed = parse(page);
    const section = parsed.all.find((e) => e.attribs.id === 'win-rate') as Element;
    const body = text(section);
    expect(body).toContain('informs — not gating');
    expect(body).toContain('raw (ties count half)0.700[0.500, 0.875]20');
    expect(body).toContain('length-controlled0.441[0.008, 0.808]20');
    expect(body).toContain('13 wins, 5 losses, 1 tie, 1 inconsistent (counted as ties)');
    expect(body).toContain('the longer answer tended to win');
    expect(elements(section).filter((e) => e.name === 'svg')).toHaveLength(1);
    expect(parsed.all.some((e) => e.name === 'a' && e.attribs.href === '#win-rate')).toBe(true);
    expect(text(parse(renderHtml(makeReport())).doc as unknown as ChildNode)).not.toContain(
      'Pairwise win rate',
    );
  });

  it('escapes the judge and rubric names it shows', () => {
    const out = renderHtml(makeReport({ winRate: { ...WIN_RATE, judge: HOSTILE, rubric: BREAKOUT } }));
    expect(out).not.toMatch(/<script|<img/i);
    expect(renderMarkdown(makeReport({ winRate: { ...WIN_RATE, judge: 'a|b' } }))).toContain('judge a\\|b');
  });

  it('adds a win-rate table to the Markdown comment', () => {
    const md = renderMarkdown(report);
    expect(md).toContain('**Win rate against the baseline** (pairwise; informs, does not gate)');
    expect(md).toContain('| raw (ties count half) | 0.700 [0.500, 0.875] | 20 |');
    expect(md).toContain('| length-controlled | 0.441 [0.008, 0.808] | 20 |');
    expect(md).toContain('13 wins, 5 losses, 1 tie, 1 inconsistent (counted as ties), 2 failed');
    expect(renderMarkdown(makeReport())).not.toContain('Win rate');
  });
});

describe('report formatting and escaping', () => {
  it('formats scores with 3 decimals, intervals as [low, high] and missing values as a dash', () => {
    expect(formatScore(0.87349)).toBe('0.873');
    expect(formatScore(Number.NaN)).toBe('—');
    expect(formatScore(null)).toBe('—');
    expect(formatCi([0.8123, 0.9011])).toBe('[0.812, 0.901]');
    expect(formatCi([Number.NaN, 1])).toBe('—');
    expect(formatSigned(-0.0344)).toBe('-0.034');
    expect(formatSigned(0.012)).toBe('+0.012');
    expect(formatPercent(0.125)).toBe('12.5%');
    expect(formatUsd(0.000412)).toBe('$0.000412');
    expect(formatUsd(1234.5)).toBe('$1,234.50');
  });

  it('escapes text for element content and quoted attributes alike', () => {
    expect(escapeHtml(`<a href="x" title='y'>&\u0000`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;\ufffd',
    );
    const attr = html`<p title="${'" onclick="alert(1)'}">${HOSTILE}</p>`.value;
    const p = parse(attr).named('p')[0] as Element;
    expect(Object.keys(p.attribs)).toEqual(['title']);
    expect(p.attribs.title).toBe('" onclick="alert(1)');
    expect(text(p)).toBe(HOSTILE);
  });

  it('escapes Markdown punctuation, collapses newlines and truncates without splitting characters', () => {
    expect(escapeMarkdown('a|b\n`c`*d*_e_[f](g)')).toBe('a\\|b \\`c\\`\\*d\\*\\_e\\_\\[f\\](g)');
    expect(truncate('😀😀😀😀', 3)).toBe('😀😀…');
    expect(escapeMarkdown('prompt support@7, ask @octocat')).toBe('prompt support@7, ask @\u2060octocat');
  });

  it('clips text to a byte budget measured after HTML escaping', () => {
    expect(clipForHtml('short', 10)).toBe('short');
    const clipped = clipForHtml('<'.repeat(100), 43);
    expect(clipped).toBe(`${'<'.repeat(10)}…`);
    expect(Buffer.byteLength(escapeHtml(clipped))).toBeLessThanOrEqual(43);
    expect(clipForHtml('😀'.repeat(10), 15)).toBe('😀😀😀…');
  });
});

describe('svg charts', () => {
  it('draws a bar with its whisker per row and a dash for a missing value', () => {
    const svg = barChart({
      id: 'c',
      title: 'T',
      desc: 'D',
      rows: [
        { label: 'a', value: 0.5, ci: [0.4, 0.6], n: 10 },
        { label: 'b', value: Number.NaN },
      ],
    }).value;
    const parsed = parse(svg);
    expect(parsed.named('rect')).toHaveLength(1);
    expect(parsed.named('path')).toHaveLength(1);
    expect(text(parsed.named('g')[0] as Element)).toContain('a: 0.500, 95% CI [0.400, 0.600], n = 10');
    expect(text(parsed.named('g')[1] as Element)).toContain('—');
  });

  it('bins a histogram over [0, 1] with the top edge inclusive, and rounds domains outward', () => {
    expect(histogramBins([0, 0.05, 0.5, 1, 1], 10, [0, 1]).map((b) => b.count)).toEqual([
      2, 0, 0, 0, 0, 1, 0, 0, 0, 2,
    ]);
    expect(niceDomain([0.2, 0.9])).toEqual([0, 1]);
    expect(niceDomain([-0.3, 1.2])).toEqual([-0.5, 1.5]);
    const svg = parse(histogram({ id: 'h', title: 'T', desc: 'D', values: [0.1, 0.2] }).value);
    expect(svg.named('rect')).toHaveLength(10);
  });
});
