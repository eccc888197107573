import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '#infra/repo-root.ts';

/** `npm start` end to end, as a user runs it: a fresh process, real output, real exit codes. */
const work = mkdtempSync(join(tmpdir(), 'llmops-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function start(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'infra/local/cli.ts'), ...args],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' },
    },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm start', () => {
  it('runs the lifecycle on the bundled samples and exits 0', () => {
    const run = start();
    expect(run.stderr).toContain('DataPrep: ProcessPart');
    expect(run.code, run.stderr).toBe(0);
    for (const name of [
      'finetune/support-chats v1',
      'preference/helpfulness v1',
      'rag/lambda-docs v1',
      'golden/lambda-qa v1',
    ]) {
      expect(run.stdout).toContain(`● ${name}  [READY]`);
    }
    expect(run.stdout).toMatch(/quarantined line 21: INVALID_JSON/);
    expect(run.stdout).toMatch(/redactions: EMAIL \d+, PHONE \d+, CREDIT_CARD 1/);
    expect(run.stdout).toContain('event: llmops.DatasetReady support-chats v1 sha256:');
    expect(run.stdout).toContain('replayed event: 1 execution(s) ended AlreadyProcessed');
    expect(run.stdout).toContain('Lifecycle ran: 4/4 datasets ready');
    // RAG: the bundled corpus through RagIngest, re-uploaded unchanged, then cited answers.
    expect(run.stdout).toMatch(/ingest: 42 file\(s\) → 42 indexed \(\d+ chunks\), 0 unchanged, 0 failed/);
    expect(run.stdout).toMatch(/re-ingest: 42 file\(s\) → 0 indexed \(0 chunks\), 42 unchanged, 0 failed/);
    expect(run.stdout).toMatch(/\[1\] provisioned-concurrency\.pdf p\.\d/);
    expect(run.stdout).toContain('Q: What is the recipe for a good sourdough bread?');
    expect(run.stdout).toContain('(no passage was relevant enough: nothing cited)');
    // Evaluation, over HTTP: the golden suite registered through DataPrep; a terse version of the grounded
    // prompt asks for production, its evaluation (the Evaluate state machine) fails the gate, and the move
    // is refused with the failing metric; a version as good as production is evaluated and promoted.
    expect(run.stdout).toContain(
      '● Evaluation gate on rag-answer@production (Evaluate state machine, suite golden, judge offline)',
    );
    expect(run.stdout).toMatch(
      /rag-answer:2 vs rag-answer:1: evaluation [0-9a-f]{8} succeeded, f1 \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] \(n=\d+\), judge offline/,
    );
    expect(run.stdout).toMatch(
      /PUT production → 409 evaluation_failed: f1 got worse by more than the margin/,
    );
    expect(run.stdout).toContain('PUT production → 200: rag-answer:3 promoted (gate passed)');
    // Drift: the users' verdicts on the replayed answers, compared with the baseline's in every window.
    expect(run.stdout).toMatch(
      /feedback: \d+ verdicts on \d+ answered calls, \d+\.\d% up \(baseline \d+\.\d% of \d+\)/,
    );
    // The closed loop: the terse version forced into production is rolled back after the drift alarm's
    // evaluation, to the version that passed its gate, and the rollback pages.
    expect(run.stdout).toContain('forced release: rag-answer@production v3 → v2 past its failed gate');
    expect(run.stdout).toContain('closed loop (act): rolled_back rag-answer@production v2 → v3');
    expect(run.stdout).toMatch(
      /page \(SNS, AWS Notification Message\): \{"schemaVersion":"1\.0","rollbackId":/,
    );
    expect(run.stdout).toContain('rag-answer@production now: v3');
    // Feedback: every line accepted, the pairs exported through DataPrep, the DPO candidate evaluated.
    expect(run.stdout).toMatch(/feedback: (\d+)\/\1 accepted on \d+ interaction\(s\)/);
    expect(run.stdout).toMatch(/export feedback-\d{8}t\d{6}z: \d+ pair\(s\) \(threshold 8\)/);
    expect(run.stdout).toContain('DataPrep: READY feedback v1 (preference)');
    expect(run.stdout).toMatch(
      /fine-tuning \(dpo-lora\): training \S+; evaluation candidate-\S+ PASS; rollout promoted/,
    );
    expect(run.stdout).toMatch(/win rate against production: \d\.\d{3} \[/);
  });

  it('evaluates a golden set over the bundled corpus through a prompt, writing the report files', () => {
    const out = join(work, 'eval');
    const golden = join(REPO_ROOT, 'corpus/eval/golden.jsonl');
    const run = start(
      'evaluate',
      golden,
      '--prompt',
      'rag-answer',
      '--rag',
      'bundled',
      '--out',
      out,
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as {
      runId: string;
      suite: { name: string; version: string; items: number };
      target: { prompt?: string; model?: string };
      items: number;
      failed: number;
      judge: string;
      metrics: Record<string, { value: number; n: number; ci: [number, number] }>;
      pass: boolean | null;
      report: string;
    };
    expect(summary).toMatchObject({
      items: 13,
      failed: 0,
      judge: 'offline',
      pass: null,
      report: join(out, 'report.html'),
    });
    // Which run, of which suite (named by its file, versioned by its content), against what.
    expect(summary.runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(summary.suite).toEqual({
      name: 'golden',
      version: expect.stringMatching(/^sha256-[0-9a-f]{16}$/),
      items: 13,
    });
    expect(summary.target).toEqual({ prompt: 'rag-answer' });
    const written = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(written).toMatchObject({ runId: summary.runId, suite: summary.suite, target: summary.target });
    // The offline judge judges once: every judged item stable, k = 1.
    expect(written.metrics.answer_relevance).toMatchObject({
      unstable: 0,
      repeats: { k: 1, unstableShare: 0 },
    });
    // The --json line carries the judge metrics' stability as summary.json does.
    expect(summary.metrics.answer_relevance).toMatchObject({
      unstable: written.metrics.answer_relevance.unstable,
      repeats: written.metrics.answer_relevance.repeats,
    });
    for (const name of ['exact_match', 'f1', 'rouge_l', 'context_recall', 'abstention', 'faithfulness']) {
      const metric = summary.metrics[name];
      expect(metric, name).toBeDefined();
      expect(metric?.ci[0], name).toBeLessThanOrEqual(metric?.value ?? Number.NaN);
      expect(metric?.ci[1], name).toBeGreaterThanOrEqual(metric?.value ?? Number.NaN);
    }
    expect(summary.metrics.f1?.n).toBe(11);
    expect(summary.metrics.abstention?.n).toBe(2);
    for (const file of ['summary.json', 'items.jsonl', 'report.html', 'summary.md']) {
      expect(existsSync(join(out, file)), file).toBe(true);
    }
    expect(readFileSync(join(out, 'items.jsonl'), 'utf8').trim().split('\n')).toHaveLength(13);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg');
  });

  it('reports the pairwise win rate against a baseline with --pairwise, adding winRate to the --json line', () => {
    const out = join(work, 'eval-pairwise');
    const run = start(
      'evaluate',
      join(REPO_ROOT, 'corpus/eval/golden.jsonl'),
      '--prompt',
      'rag-answer',
      '--baseline',
      'rag-answer',
      '--rag',
      'bundled',
      '--pairwise',
      '--out',
      out,
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}');
    // The same prompt on both sides: the same answers, every pair a tie, by the offline judge.
    expect(summary.winRate).toEqual({
      raw: { value: 0.5, ci: [0.5, 0.5] },
      lengthControlled: { value: 0.5, ci: [0.5, 0.5] },
      n: 13,
      wins: 0,
      losses: 0,
      ties: 13,
      inconsistent: 0,
      failed: 0,
      judge: 'offline',
      rubric: 'offline-pairwise:1',
    });
    expect(summary.metrics.f1).toBeDefined();
    expect(run.stderr).toContain('Win rate against the baseline (informs, does not gate): raw 0.500');
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).winRate).toEqual(summary.winRate);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('**Win rate against the baseline**');
  });

  it('scores given predictions without starting the stack; a missing prediction fails its item, not the run', () => {
    const predictions = join(work, 'predictions.jsonl');
    writeFileSync(
      predictions,
      [
        { id: 'g01', prediction: "The total size of all environment variables doesn't exceed 4 KB." },
        { id: 'g11', prediction: 'I do not know.' },
      ]
        .map((line) => JSON.stringify(line))
        .join('\n'),
    );
    const run = start(
      'evaluate',
      join(REPO_ROOT, 'corpus/eval/golden.jsonl'),
      '--predictions',
      predictions,
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('Synthesizing the stack');
    const summary = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}');
    expect(summary).toMatchObject({ items: 13, failed: 11 });
    expect(summary.metrics.exact_match).toMatchObject({ value: 1, n: 1, failed: 10 });
    expect(summary.metrics.abstention).toMatchObject({ value: 1, n: 1, failed: 1 });
  });

  it('answers a question over a folder with --ingest, --ask and --json, citing file names', () => {
    const run = start(
      '--ingest',
      join(REPO_ROOT, 'corpus/lambda-guide'),
      '--ask',
      'How do I keep functions initialized so they respond without cold starts?',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const last = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as {
      answer: string;
      citations: string[];
    };
    expect(last.citations[0]).toBe('provisioned-concurrency.pdf');
    expect(last.answer.length).toBeGreaterThan(20);
  });

  it('answers each line of --questions, one JSON object per question', () => {
    const dir = join(work, 'docs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'billing.md'), '# Billing\n\nInvoices are sent on the first day of each month.');
    writeFileSync(
      join(dir, 'support.html'),
      '<html><head><title>Support</title></head><body><h1>Support</h1><p>Support answers tickets within four hours.</p></body></html>',
    );
    const questions = join(work, 'questions.jsonl');
    writeFileSync(
      questions,
      [
        JSON.stringify({ id: 'a', question: 'When are invoices sent?' }),
        JSON.stringify({ id: 'b', question: 'How fast does support answer tickets?' }),
      ].join('\n'),
    );
    const run = start('--ingest', dir, '--questions', questions, '--json');
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; answer: string; citations: string[] });
    expect(lines.map((l) => l.id)).toEqual(['a', 'b']);
    expect(lines[0]?.citations[0]).toBe('billing.md');
    expect(lines[0]?.answer).toContain('first day of each month');
    expect(lines[1]?.citations[0]).toBe('support.html');
  });

  it('answers a 100-question file with ask --questions, riding out the usage plan throttle', () => {
    const dir = join(work, 'many');
    mkdirSync(dir);
    writeFileSync(join(dir, 'billing.md'), '# Billing\n\nInvoices are sent on the first day of each month.');
    writeFileSync(join(dir, 'support.md'), '# Support\n\nSupport answers tickets within four hours.');
    const ids = Array.from({ length: 100 }, (_, i) => `q${i + 1}`);
    const questions = join(work, 'hundred.jsonl');
    writeFileSync(
      questions,
      ids
        .map((id, i) =>
          JSON.stringify({
            id,
            question: i % 2 === 0 ? 'When are invoices sent?' : 'How fast does support answer tickets?',
          }),
        )
        .join('\n'),
    );
    // The old form (--ingest DIR --questions FILE) parses into this same request (test/unit/local/cli).
    const run = start('ask', '--ingest', dir, '--questions', questions, '--json');
    expect(run.code, run.stderr).toBe(0);
    const answers = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; answer: string; citations: string[] });
    expect(answers.map((a) => a.id)).toEqual(ids);
    expect(answers[0]?.citations[0]).toBe('billing.md');
    expect(answers[99]?.citations[0]).toBe('support.md');
  });

  it('ingests a folder with ingest --json, naming the document that failed, and exits 1', () => {
    const dir = join(work, 'mixed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'billing.md'), '# Billing\n\nInvoices are sent on the first day of each month.');
    writeFileSync(join(dir, 'broken.pdf'), 'not a pdf at all');
    const run = start('ingest', dir, '--json');
    expect(run.code, run.stderr).toBe(1);
    expect(JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}')).toMatchObject({
      files: 2,
      indexed: 1,
      failed: [{ docId: 'broken.pdf', reason: expect.stringContaining('DocumentParseError') }],
    });
  });

  it('prepares a user file with --upload, --out and --json', () => {
    const file = join(work, 'my-pairs.jsonl');
    writeFileSync(
      file,
      [
        '{"prompt":"What is an idempotent handler?","chosen":"One whose repeated runs have the effect of one run.","rejected":"A fast one."}',
        '{"prompt":"What is an idempotent handler?","chosen":"One whose repeated runs have the effect of one run.","rejected":"A fast one."}',
        '{"prompt":"Who do I call?","chosen":"Call 415-555-0134 or mail ops@example.com.","rejected":"Nobody."}',
        '{"prompt":"broken"',
        '',
      ].join('\n'),
    );
    const out = join(work, 'out');
    const run = start('--upload', file, '--purpose', 'preference', '--out', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}');
    expect(summary).toMatchObject({
      status: 'READY',
      dataset: { name: 'my-pairs', purpose: 'preference', version: 1 },
      kept: 2,
      quarantined: 1,
      duplicates: { exact: 1, near: 0 },
      redactions: { EMAIL: 1, PHONE: 1 },
      quarantineReasons: [{ line: 4, code: 'INVALID_JSON' }],
      event: { 'detail-type': 'llmops.DatasetReady' },
    });
    for (const name of ['manifest.json', 'train.jsonl', 'validation.jsonl', 'quarantine.jsonl']) {
      expect(existsSync(join(out, name)), name).toBe(true);
    }
    const curated =
      readFileSync(join(out, 'train.jsonl'), 'utf8') + readFileSync(join(out, 'validation.jsonl'), 'utf8');
    expect(curated).toContain('[EMAIL]');
    expect(curated).not.toContain('ops@example.com');
  });

  it('exits 1 with the reason when nothing in the file is valid', () => {
    const file = join(work, 'junk.jsonl');
    writeFileSync(file, 'not json\n{"text": ""}\n');
    const run = start('--upload', file, '--purpose', 'rag', '--json');
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}');
    expect(summary).toMatchObject({
      status: 'FAILED',
      kept: 0,
      quarantined: 2,
      failure: { error: 'NoValidRecordsError' },
    });
  });

  it('rejects bad arguments with usage', () => {
    const run = start('--upload', 'x.jsonl', '--purpose', 'pretraining');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      '--purpose must be one of finetune, preference, rag, golden (got "pretraining")',
    );
    const verb = start('prepare', 'x.jsonl', '--purpose', 'pretraining');
    expect(verb.code).toBe(2);
    expect(verb.stderr).toContain(
      '--purpose must be one of finetune, preference, rag, golden (got "pretraining")',
    );
    const unknown = start('--bogus');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
  });

  it('refuses --ask without --ingest, and --ingest without a question', () => {
    const ask = start('--ask', 'What is Lambda?');
    expect(ask.code).toBe(2);
    expect(ask.stderr).toContain('--ask and --questions need --ingest DIR');
    const ingest = start('--ingest', join(REPO_ROOT, 'corpus/lambda-guide'));
    expect(ingest.code).toBe(2);
    expect(ingest.stderr).toContain('--ingest takes exactly one of --ask QUESTION or --questions FILE');
  });
});
