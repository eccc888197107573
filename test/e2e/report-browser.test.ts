import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDrift, type DriftRecord } from '#core/drift/check.ts';
import { renderDriftHtml } from '#core/drift/report.ts';
import { REPO_ROOT } from '#infra/repo-root.ts';

/**
 * An evaluation report opened in a real headless Chromium (Debian's `chromium`, which `.ci/run`
 * installs when missing): the page loads under its own CSP with no request leaving it, and every chart
 * is laid out with visible bars. The page is driven over the DevTools protocol on 127.0.0.1.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const work = mkdtempSync(join(tmpdir(), 'llmops-report-'));
let browser: ChildProcess | undefined;

afterAll(async () => {
  if (browser && browser.exitCode === null) {
    const exited = new Promise((resolve) => browser?.once('exit', resolve));
    browser.kill('SIGKILL');
    await exited;
  }
  rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
});

/** Writes a report by scoring a few predictions on the bundled golden set (no stack needed). */
function writeReport(): string {
  const predictions = join(work, 'predictions.jsonl');
  const lines = [
    { id: 'g01', prediction: "The total size of all environment variables doesn't exceed 4 KB." },
    // A hostile answer: the report must show it as text.
    { id: 'g02', prediction: 'Between 128 MB and 10,240 MB. <img src=x onerror="document.title=\'pwned\'">' },
    { id: 'g04', prediction: 'No: reserved concurrency is for that function alone.' },
    { id: 'g06', prediction: '$LATEST' },
    { id: 'g11', prediction: 'I do not know.' },
    { id: 'g12', prediction: 'Germany won it.' },
  ];
  writeFileSync(predictions, lines.map((l) => JSON.stringify(l)).join('\n'));
  const out = join(work, 'out');
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'infra/local/cli.ts'),
      'evaluate',
      join(REPO_ROOT, 'corpus/eval/golden.jsonl'),
      '--predictions',
      predictions,
      '--out',
      out,
    ],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`evaluate failed: ${run.stderr}`);
  return join(out, 'report.html');
}

/** Starts Chromium on the page; resolves to the DevTools WebSocket URL of the page. */
async function openInChromium(file: string): Promise<string> {
  browser = spawn(
    CHROMIUM,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${join(work, 'profile')}`,
      '--window-size=1200,900',
      pathToFileURL(file).href,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not start: ${seen}`)), 60_000);
    browser?.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Cannot run ${CHROMIUM} (install Debian's chromium): ${error.message}`));
    });
    browser?.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const match = /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  for (let attempt = 0; attempt < 100; attempt++) {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
      type: string;
      url: string;
      webSocketDebuggerUrl: string;
    }[];
    const page = targets.find((t) => t.type === 'page' && t.url.startsWith('file:'));
    if (page) return page.webSocketDebuggerUrl;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('Chromium opened no page for the report');
}

/**
 * Evaluates an expression in the page once the report has loaded, and returns its JSON value. An
 * evaluation cut short by the page's own navigation (its context destroyed) is tried again.
 */
async function evaluate<T>(socketUrl: string, expression: string): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await evaluateOnce<T>(socketUrl, expression);
    if ('value' in outcome) return outcome.value;
    if (attempt >= 20) throw new Error(`DevTools evaluation failed: ${outcome.error}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function evaluateOnce<T>(
  socketUrl: string,
  expression: string,
): Promise<{ value: T } | { error: string }> {
  const socket = new WebSocket(socketUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', reject, { once: true });
  });
  try {
    const reply = new Promise<{
      result?: { result: { value: T }; exceptionDetails?: unknown };
      error?: { message: string };
    }>((resolve) => {
      socket.addEventListener('message', (event) => {
        const message = JSON.parse(String(event.data));
        if (message.id === 1) resolve(message);
      });
    });
    // The page target may still hold its initial blank document: wait for the report itself to load.
    const wrapped = `new Promise((resolve) => {
      const ready = () => location.protocol === 'file:' && document.readyState === 'complete';
      const poll = () => (ready() ? resolve(JSON.stringify(${expression})) : setTimeout(poll, 50));
      poll();
    })`;
    socket.send(
      JSON.stringify({
        id: 1,
        method: 'Runtime.evaluate',
        params: { expression: wrapped, awaitPromise: true, returnByValue: true },
      }),
    );
    const message = await reply;
    if (message.result === undefined) return { error: message.error?.message ?? 'no result' };
    if (message.result.exceptionDetails) return { error: JSON.stringify(message.result.exceptionDetails) };
    return { value: JSON.parse(String(message.result.result.value)) as T };
  } finally {
    socket.close();
  }
}

interface Layout {
  title: string;
  scripts: number;
  images: number;
  svgs: { width: number; height: number; bars: number; visibleBars: number; title: string }[];
  resources: string[];
}

describe('report.html in headless Chromium', () => {
  let layout: Layout;
  let html: string;

  beforeAll(async () => {
    const file = writeReport();
    html = readFileSync(file, 'utf8');
    const socket = await openInChromium(file);
    layout = await evaluate<Layout>(
      socket,
      `({
        title: document.title,
        scripts: document.scripts.length,
        images: document.images.length,
        resources: performance.getEntriesByType('resource').map((e) => e.name),
        svgs: [...document.querySelectorAll('svg')].map((svg) => {
          const box = svg.getBoundingClientRect();
          const bars = [...svg.querySelectorAll('rect')];
          return {
            width: box.width,
            height: box.height,
            bars: bars.length,
            visibleBars: bars.filter((r) => { const b = r.getBBox(); return b.width > 0 && b.height > 0; }).length,
            title: svg.querySelector('title')?.textContent ?? '',
          };
        }),
      })`,
    );
  }, 120_000);

  it('lays out every chart with visible bars', () => {
    expect(layout.svgs.length).toBeGreaterThanOrEqual(4);
    expect(layout.svgs.length).toBe((html.match(/<svg/g) ?? []).length);
    for (const svg of layout.svgs) {
      expect(svg.title, 'each chart is titled').not.toBe('');
      expect(svg.width, svg.title).toBeGreaterThan(100);
      expect(svg.height, svg.title).toBeGreaterThan(20);
      expect(svg.visibleBars, svg.title).toBeGreaterThan(0);
    }
  });

  it('runs no script, loads nothing, and shows hostile answers as text', () => {
    expect(layout.scripts).toBe(0);
    expect(layout.images).toBe(0);
    expect(layout.resources).toEqual([]);
    expect(layout.title).not.toBe('pwned');
    expect(html).toContain('&lt;img src=x onerror=');
  });

  it('renders the drift report of the bundled samples: verdict, test table, projection and every descriptor chart', async () => {
    // The evaluation report's browser has done its part: stop it, then open the drift report in a fresh one.
    if (browser && browser.exitCode === null) {
      const exited = new Promise((resolve) => browser?.once('exit', resolve));
      browser.kill('SIGKILL');
      await exited;
    }
    const out = join(work, 'drift');
    const run = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO_ROOT, 'infra/local/cli.ts'),
        'drift',
        '--reference',
        join(REPO_ROOT, 'corpus/drift/reference.jsonl'),
        '--current',
        join(REPO_ROOT, 'corpus/drift/shifted.jsonl'),
        '--out',
        out,
      ],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    const socket = await openInChromium(join(out, 'report.html'));
    const page = await evaluate<{
      scripts: number;
      resources: string[];
      verdict: string | undefined;
      testRows: number;
      charts: { chart: string; descriptor: string | null; width: number; height: number; shapes: number }[];
    }>(
      socket,
      `({
        scripts: document.scripts.length,
        resources: performance.getEntriesByType('resource').map((e) => e.name),
        verdict: document.querySelector('[data-chart="verdict"] [data-verdict]')?.dataset.verdict,
        testRows: document.querySelectorAll('[data-chart="tests"] tbody tr').length,
        charts: [...document.querySelectorAll('figure[data-chart]')].map((figure) => {
          const svg = figure.querySelector('svg');
          const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
          const shapes = svg ? [...svg.querySelectorAll('rect, circle')] : [];
          return {
            chart: figure.dataset.chart,
            descriptor: figure.dataset.descriptor ?? null,
            width: box.width,
            height: box.height,
            shapes: shapes.filter((s) => { const b = s.getBBox(); return b.width > 0 && b.height > 0; }).length,
          };
        }),
      })`,
    );
    expect(page.scripts).toBe(0);
    expect(page.resources).toEqual([]);
    expect(page.verdict).toBe('drift');
    expect(page.testRows).toBe(8);
    expect(page.charts.map((c) => (c.descriptor ? `${c.chart}:${c.descriptor}` : c.chart))).toEqual([
      'embedding-projection',
      'descriptor-histogram:tokens',
      'descriptor-histogram:nonLetterShare',
      'descriptor-bars:language',
      'descriptor-histogram:oovRate',
      'descriptor-bars:piiRate',
    ]);
    for (const chart of page.charts) {
      const name = `${chart.chart} ${chart.descriptor ?? ''}`;
      expect(chart.width, name).toBeGreaterThan(100);
      expect(chart.height, name).toBeGreaterThan(20);
      expect(chart.shapes, name).toBeGreaterThan(0);
    }
    // Every one of the 400 projected embeddings is a visible point.
    expect(page.charts[0]?.shapes).toBeGreaterThanOrEqual(400);
  }, 120_000);

  it("draws a scheduled check's scores over time: a visible line per signal, a gap where none, the threshold", async () => {
    if (browser && browser.exitCode === null) {
      const exited = new Promise((resolve) => browser?.once('exit', resolve));
      browser.kill('SIGKILL');
      await exited;
    }
    const read = (name: string) =>
      readFileSync(join(REPO_ROOT, `corpus/drift/${name}.jsonl`), 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as DriftRecord);
    const result = checkDrift(read('reference'), read('shifted'), { seed: 'history' });
    // Four six-hour windows; the second too small for the descriptors (no score: a gap in their line).
    const embedding = [0.3, 0.6, 4, 10];
    const descriptors = [0.1, null, 2, 10];
    const history = ['00', '06', '12', '18'].map((hour, i) => ({
      end: `2027-01-05T${hour}:00:00.000Z`,
      scores: { embedding: embedding[i] ?? null, descriptors: descriptors[i] ?? null },
    }));
    const file = join(work, 'drift-history.html');
    writeFileSync(file, renderDriftHtml(result, { history }));
    const socket = await openInChromium(file);
    const chart = await evaluate<{
      width: number;
      height: number;
      lines: number;
      points: number;
      threshold: number;
    }>(
      socket,
      `(() => {
        const svg = document.querySelector('figure[data-chart="score-history"] svg');
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        const visible = (selector) => (svg ? [...svg.querySelectorAll(selector)] : []).filter((s) => {
          const b = s.getBBox();
          return b.width > 0 || b.height > 0;
        }).length;
        return {
          width: box.width,
          height: box.height,
          lines: visible('g[data-series] path'),
          points: visible('g[data-series] circle'),
          threshold: visible('line[data-threshold]'),
        };
      })()`,
    );
    expect(chart.width).toBeGreaterThan(100);
    expect(chart.height).toBeGreaterThan(20);
    // The embedding's line through its four windows, the descriptors' through the two after the gap.
    expect(chart.lines).toBe(2);
    expect(chart.points).toBe(7);
    expect(chart.threshold).toBe(1);
  }, 120_000);
});
