import { describe, expect, it } from 'vitest';
import type { AlarmStateValue } from '#infra/local/cloudwatch/alarm-state.ts';
import {
  type AlarmRule,
  alarmNameOf,
  alarmsOf,
  evaluateAlarmRule,
  parseAlarmRule,
} from '#infra/local/cloudwatch/composite-rule.ts';
import { ExpressionError } from '#infra/local/cloudwatch/tokens.ts';

/** A rule as a compact string: `(a | (b & !c))`, `ALARM:a`. */
function show(rule: AlarmRule): string {
  switch (rule.kind) {
    case 'constant':
      return String(rule.value);
    case 'state':
      return `${rule.state}:${rule.alarm}`;
    case 'not':
      return `!${show(rule.operand)}`;
    case 'and':
      return `(${show(rule.left)} & ${show(rule.right)})`;
    case 'or':
      return `(${show(rule.left)} | ${show(rule.right)})`;
  }
}

const states = (map: Record<string, AlarmStateValue>) => (name: string) => map[name] ?? 'INSUFFICIENT_DATA';

describe('composite alarm rules', () => {
  it('binds NOT tighter than AND, and AND tighter than OR', () => {
    expect(show(parseAlarmRule('ALARM(a) OR ALARM(b) AND NOT ALARM(c)'))).toBe(
      '(ALARM:a | (ALARM:b & !ALARM:c))',
    );
    expect(show(parseAlarmRule('NOT ALARM(a) AND OK(b) OR INSUFFICIENT_DATA(c)'))).toBe(
      '((!ALARM:a & OK:b) | INSUFFICIENT_DATA:c)',
    );
    expect(show(parseAlarmRule('ALARM(a) AND ALARM(b) AND ALARM(c)'))).toBe(
      '((ALARM:a & ALARM:b) & ALARM:c)',
    );
  });

  it('groups with parentheses and negates groups', () => {
    expect(show(parseAlarmRule('(ALARM(a) OR ALARM(b)) AND NOT (OK(c) OR FALSE)'))).toBe(
      '((ALARM:a | ALARM:b) & !(OK:c | false))',
    );
    expect(show(parseAlarmRule('NOT NOT TRUE'))).toBe('!!true');
  });

  it('reads quoted names and alarm ARNs as alarm names', () => {
    const rule = parseAlarmRule(
      'ALARM("arn:aws:cloudwatch:us-east-1:000000000000:alarm:Api errors") OR OK(arn:aws:cloudwatch:us-east-1:000000000000:alarm:latency) OR ALARM("plain name")',
    );
    expect(alarmsOf(rule)).toEqual(['Api errors', 'latency', 'plain name']);
    expect(alarmNameOf('arn:aws:cloudwatch:us-east-1:1:alarm:a:b')).toBe('a:b');
    expect(alarmNameOf('not-an-arn:alarm:x')).toBe('not-an-arn:alarm:x');
  });

  it('evaluates against the alarms’ states', () => {
    const rule = parseAlarmRule('ALARM(a) AND (NOT OK(b) OR INSUFFICIENT_DATA(c))');
    expect(evaluateAlarmRule(rule, states({ a: 'ALARM', b: 'ALARM', c: 'OK' }))).toBe(true);
    expect(evaluateAlarmRule(rule, states({ a: 'ALARM', b: 'OK', c: 'OK' }))).toBe(false);
    expect(evaluateAlarmRule(rule, states({ a: 'ALARM', b: 'OK' }))).toBe(true);
    expect(evaluateAlarmRule(rule, states({ a: 'OK' }))).toBe(false);
    expect(evaluateAlarmRule(parseAlarmRule('TRUE'), states({}))).toBe(true);
    expect(alarmsOf(parseAlarmRule('ALARM(a) OR OK(a) OR ALARM(b)'))).toEqual(['a', 'b']);
  });

  it.each([
    ['ALARM(a) AND', 'Expected an alarm state function, TRUE, FALSE or ( at position 12'],
    ['ALARM(a', "Expected ')' at position 7"],
    ['ALARM()', 'Expected an alarm name or ARN at position 6'],
    ['ALARM(a) ALARM(b)', 'Unexpected "ALARM" at position 9'],
    ['(ALARM(a) OR OK(b)', "Expected ')' at position 18"],
    ['alarm(a)', 'Unknown function alarm (did you mean ALARM?) at position 0'],
    ['ALARM(a) and OK(b)', 'Unexpected "and" at position 9'],
    ['AT_LEAST(2, ALARM, (a, b))', 'Unknown function AT_LEAST at position 0'],
    ['ALARM("a) OR OK(b)', 'Unterminated double-quoted string at position 6'],
    ["ALARM('a')", 'Expected an alarm name or ARN at position 6'],
    ['', 'Expected an alarm state function, TRUE, FALSE or ( at position 0'],
  ])('rejects %j: %s', (text, message) => {
    let error: unknown;
    try {
      parseAlarmRule(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ExpressionError);
    expect((error as Error).message).toBe(`${message} of ${JSON.stringify(text)}`);
  });

  it('parses a long rule in one pass', () => {
    const names = Array.from({ length: 2000 }, (_, i) => `ALARM("alarm-${i}")`);
    const rule = parseAlarmRule(names.join(' OR '));
    expect(alarmsOf(rule)).toHaveLength(2000);
  });
});
