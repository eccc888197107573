import '../../../support/env/drift.ts';
import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidEventError } from '#aws/errors.ts';
import {
  checkNamed,
  driftKeys,
  parseChecks,
  parseOnlineJudge,
  parsePolicy,
  parseRecords,
  recordsJsonl,
} from '#functions/drift/shared.ts';
import { TEST_POLICY } from './support.ts';

describe('drift step configuration', () => {
  it('parses the policy and the checks the stack sets (as the test environment does)', () => {
    expect(parsePolicy(process.env.DRIFT_POLICY as string)).toEqual(TEST_POLICY);
    expect(parseChecks(process.env.DRIFT_CHECKS as string)).toEqual([
      { name: 'support', app: 'web', prompt: 'support' },
    ]);
  });

  it('refuses a policy or checks that are not JSON or not the shape, naming the variable', () => {
    expect(() => parsePolicy('{')).toThrow(new ConfigError('DRIFT_POLICY is not JSON'));
    expect(() => parsePolicy(JSON.stringify({ ...TEST_POLICY, alpha: 1 }))).toThrow(/^DRIFT_POLICY: alpha: /);
    expect(() => parsePolicy(JSON.stringify({ ...TEST_POLICY, permutations: 0.5 }))).toThrow(ConfigError);
    expect(() => parseChecks('nope')).toThrow('DRIFT_CHECKS is not JSON');
    expect(() => parseChecks(JSON.stringify([{ name: 'Support Check' }]))).toThrow(
      /^DRIFT_CHECKS: 0\.name: /,
    );
  });

  it('finds a configured check, naming the configured ones otherwise', () => {
    const checks = [{ name: 'support' }, { name: 'billing', app: 'web' }];
    expect(checkNamed(checks, 'billing')).toEqual({ name: 'billing', app: 'web' });
    expect(() => checkNamed(checks, 'x')).toThrow(
      new InvalidEventError('check: "x" is not a configured drift check (support, billing)'),
    );
    expect(() => checkNamed([], 'x')).toThrow('(none)');
  });

  it('keys the staged window, the baselines and the reports', () => {
    expect(driftKeys.current('support', '2026-12-01T12:00:00.000Z')).toBe(
      'staging/drift/support/2026-12-01T12:00:00.000Z/current.jsonl',
    );
    expect(driftKeys.baseline('support', 'b-1')).toBe('drift/baselines/support/b-1.jsonl');
    expect(driftKeys.reportPrefix('support', '2026-12-01T12:00:00.000Z')).toBe(
      'drift/reports/support/2026-12-01T12:00:00.000Z/',
    );
  });

  it('keys the baseline’s judged sample beside its records, by rubric version', () => {
    expect(driftKeys.judged('drift/baselines/support/b-1.jsonl', 'judge-answer-relevance:1')).toBe(
      'drift/baselines/support/b-1.judged-judge-answer-relevance-1.json',
    );
    expect(
      driftKeys.judged(
        'drift/baselines/support/window-2026-12-01T12:00:00.000Z.jsonl',
        'offline-answer-relevance:1',
      ),
    ).toBe('drift/baselines/support/window-2026-12-01T12:00:00.000Z.judged-offline-answer-relevance-1.json');
  });

  it('parses the online judge’s settings, refusing a sample that cannot reach its minimum', () => {
    const dev = { share: 0.1, maxPerWindow: 20, minJudged: 10 };
    expect(parseOnlineJudge(JSON.stringify(dev))).toEqual(dev);
    expect(() => parseOnlineJudge('{')).toThrow(new ConfigError('ONLINE_JUDGE is not JSON'));
    expect(() => parseOnlineJudge(JSON.stringify({ ...dev, share: 0 }))).toThrow(/^ONLINE_JUDGE: share: /);
    expect(() => parseOnlineJudge(JSON.stringify({ ...dev, share: 1.2 }))).toThrow(/^ONLINE_JUDGE: share: /);
    expect(() => parseOnlineJudge(JSON.stringify({ ...dev, maxPerWindow: 201 }))).toThrow(ConfigError);
    expect(() => parseOnlineJudge(JSON.stringify({ ...dev, minJudged: 21 }))).toThrow(
      /^ONLINE_JUDGE: minJudged: minJudged must be at most maxPerWindow/,
    );
  });
});

describe('records files', () => {
  it('round-trips records, each embedding within int8 quantization', () => {
    const records = [
      { text: 'q1', answer: 'a1', retrievalTopScore: 0.7, embedding: [0.5, -1, 0.25] },
      { text: 'q2' },
      { embedding: [0, 0, 0] },
    ];
    const text = recordsJsonl(records);
    expect(text.split('\n')).toHaveLength(4);
    expect(JSON.parse(text.split('\n')[0] as string).embedding).toMatchObject({ encoding: 'int8', dims: 3 });
    const back = parseRecords(text, 'f');
    expect(back).toHaveLength(3);
    expect(back[0]).toMatchObject({ text: 'q1', answer: 'a1', retrievalTopScore: 0.7 });
    back[0]?.embedding?.forEach((x, i) => {
      expect(Math.abs(x - (records[0]?.embedding?.[i] as number))).toBeLessThanOrEqual(1 / 254 + 1e-12);
    });
    expect(back[1]).toEqual({ text: 'q2' });
    expect(back[2]).toEqual({ embedding: [0, 0, 0] });
    expect(recordsJsonl([])).toBe('');
    expect(parseRecords('', 'f')).toEqual([]);
  });

  it('round-trips an answer’s embedding beside the question’s', () => {
    const records = [{ text: 'q1', answer: 'a1', embedding: [0.5, -1], answerEmbedding: [1, 0.5, -0.25] }];
    const text = recordsJsonl(records);
    expect(JSON.parse(text).answerEmbedding).toMatchObject({ encoding: 'int8', dims: 3 });
    const [back] = parseRecords(text, 'f');
    back?.answerEmbedding?.forEach((x, i) => {
      expect(Math.abs(x - (records[0]?.answerEmbedding?.[i] as number))).toBeLessThanOrEqual(1 / 254 + 1e-12);
    });
    expect(back?.embedding).toHaveLength(2);
    const bad = JSON.stringify({
      text: 'q',
      answerEmbedding: { encoding: 'int8', dims: 4, scale: 0.1, data: 'AAA=' },
    });
    expect(() => parseRecords(bad, 'f')).toThrow(
      new InvalidEventError('f line 1: answerEmbedding.data: must decode to dims (4) bytes (decodes to 2)'),
    );
  });

  it('names the line that is not a record', () => {
    expect(() => parseRecords('{"text":"ok"}\nnot json\n', 's3://b/k')).toThrow(
      new InvalidEventError('s3://b/k line 2: not JSON'),
    );
    expect(() => parseRecords('\n{"text":1}\n', 's3://b/k')).toThrow(/^s3:\/\/b\/k line 2: text: /);
    const bad = JSON.stringify({ embedding: { encoding: 'int8', dims: 4, scale: 0.1, data: 'AAA=' } });
    expect(() => parseRecords(bad, 'f')).toThrow(
      new InvalidEventError('f line 1: embedding.data: must decode to dims (4) bytes (decodes to 2)'),
    );
  });
});
