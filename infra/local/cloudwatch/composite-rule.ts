/**
 * Composite alarm rules (`AlarmRule`): parsed by recursive descent over the shared lexer and evaluated
 * against the states of the alarms they name.
 *
 *   rule    := or
 *   or      := and ('OR' and)*
 *   and     := not ('AND' not)*
 *   not     := 'NOT' not | primary
 *   primary := '(' rule ')' | 'TRUE' | 'FALSE' | STATE '(' alarm ')'
 *   STATE   := 'ALARM' | 'OK' | 'INSUFFICIENT_DATA'
 *   alarm   := a name or an alarm ARN, bare or in double quotes
 *
 * NOT binds tighter than AND, AND tighter than OR, as in CloudWatch. An ARN names the alarm after
 * `:alarm:`. Functions CloudWatch has beyond these (`AT_LEAST`) are reported as unknown.
 */
import type { AlarmStateValue } from './alarm-state.ts';
import { ExpressionError, type Token, tokenize } from './tokens.ts';

/** A parsed rule. */
export type AlarmRule =
  | { readonly kind: 'constant'; readonly value: boolean }
  | { readonly kind: 'state'; readonly state: AlarmStateValue; readonly alarm: string }
  | { readonly kind: 'not'; readonly operand: AlarmRule }
  | { readonly kind: 'and' | 'or'; readonly left: AlarmRule; readonly right: AlarmRule };

const STATE_FUNCTIONS: ReadonlySet<string> = new Set(['ALARM', 'OK', 'INSUFFICIENT_DATA']);

/** Parses a rule. @throws ExpressionError naming what was expected and where. */
export function parseAlarmRule(rule: string): AlarmRule {
  const tokens = tokenize(rule);
  let next = 0;
  const peek = (): Token | undefined => tokens[next];
  const fail = (message: string, token = peek()): never => {
    throw new ExpressionError(message, rule, token?.at ?? rule.length);
  };
  const isWord = (token: Token | undefined, word: string) => token?.kind === 'word' && token.text === word;
  const expect = (text: '(' | ')') => {
    const token = peek();
    if (token?.kind !== 'punct' || token.text !== text) fail(`Expected '${text}'`);
    next++;
  };

  const parseOr = (): AlarmRule => {
    let left = parseAnd();
    while (isWord(peek(), 'OR')) {
      next++;
      left = { kind: 'or', left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): AlarmRule => {
    let left = parseNot();
    while (isWord(peek(), 'AND')) {
      next++;
      left = { kind: 'and', left, right: parseNot() };
    }
    return left;
  };
  const parseNot = (): AlarmRule => {
    if (!isWord(peek(), 'NOT')) return parsePrimary();
    next++;
    return { kind: 'not', operand: parseNot() };
  };
  const parsePrimary = (): AlarmRule => {
    const token = peek();
    if (token === undefined) return fail('Expected an alarm state function, TRUE, FALSE or (');
    if (token.kind === 'punct' && token.text === '(') {
      next++;
      const inner = parseOr();
      expect(')');
      return inner;
    }
    if (token.kind !== 'word') return fail('Expected an alarm state function, TRUE, FALSE or (');
    next++;
    if (token.text === 'TRUE' || token.text === 'FALSE')
      return { kind: 'constant', value: token.text === 'TRUE' };
    if (!STATE_FUNCTIONS.has(token.text)) {
      const call = tokens[next]?.kind === 'punct' && tokens[next]?.text === '(';
      const upper = token.text.toUpperCase();
      const hint = STATE_FUNCTIONS.has(upper) ? ` (did you mean ${upper}?)` : '';
      return fail(
        call ? `Unknown function ${token.text}${hint}` : `Unexpected ${JSON.stringify(token.text)}`,
        token,
      );
    }
    expect('(');
    const name = peek();
    if ((name?.kind !== 'word' && (name?.kind !== 'string' || name.quote !== '"')) || name.text === '') {
      return fail('Expected an alarm name or ARN');
    }
    next++;
    expect(')');
    return { kind: 'state', state: token.text as AlarmStateValue, alarm: alarmNameOf(name.text) };
  };

  const parsed = parseOr();
  if (next < tokens.length) fail(`Unexpected ${JSON.stringify(tokens[next]?.text)}`);
  return parsed;
}

/** Whether the rule holds, given each named alarm's state. */
export function evaluateAlarmRule(rule: AlarmRule, stateOf: (alarm: string) => AlarmStateValue): boolean {
  switch (rule.kind) {
    case 'constant':
      return rule.value;
    case 'state':
      return stateOf(rule.alarm) === rule.state;
    case 'not':
      return !evaluateAlarmRule(rule.operand, stateOf);
    case 'and':
      return evaluateAlarmRule(rule.left, stateOf) && evaluateAlarmRule(rule.right, stateOf);
    case 'or':
      return evaluateAlarmRule(rule.left, stateOf) || evaluateAlarmRule(rule.right, stateOf);
  }
}

/** The names of the alarms a rule refers to, each once, in order of appearance. */
export function alarmsOf(rule: AlarmRule): string[] {
  switch (rule.kind) {
    case 'constant':
      return [];
    case 'state':
      return [rule.alarm];
    case 'not':
      return alarmsOf(rule.operand);
    case 'and':
    case 'or':
      return [...new Set([...alarmsOf(rule.left), ...alarmsOf(rule.right)])];
  }
}

/** The alarm name in an alarm ARN (`arn:aws:cloudwatch:us-east-1:123:alarm:Name` → `Name`), else the text. */
export function alarmNameOf(nameOrArn: string): string {
  const marker = ':alarm:';
  const at = nameOrArn.indexOf(marker);
  return nameOrArn.startsWith('arn:') && at >= 0 ? nameOrArn.slice(at + marker.length) : nameOrArn;
}
