/**
 * Caller-supplied regular expressions matched in linear time (no AWS imports).
 *
 * JavaScript's own engine backtracks, and banning backreferences, lookaround and nested quantifiers is
 * not enough to make it safe: `\d+\d+\d+x` has none of them and takes seconds on 500 digits (each
 * quantifier adds a power of the input length), and `(a|a)*b` is exponential without a nested
 * quantifier. So a pattern is compiled here into a Thompson NFA and simulated state-set by state-set:
 * O(input length x pattern states) whatever the pattern, in the spirit of RE2.
 *
 * The subset is the regular part of ECMAScript `u`-mode syntax: literals, `.`, classes, `\d \w \s \p{..}`
 * and their negations, `^ $ \b \B`, groups (capturing or not, named or not), `|`, and the quantifiers
 * `* + ? {n} {n,} {n,m}` (greedy or lazy: the same for a yes/no match). Flags: `i`, `m`, `s`.
 * Rejected, with the reason: backreferences (`\1`, `\k<name>`) and lookaround (`(?=`, `(?!`, `(?<=`,
 * `(?<!`), which no finite automaton can express; inline modifiers; counted repetitions over 1000;
 * patterns longer than the caller's limit or that expand to more NFA states than its limit.
 *
 * Exactness: the pattern is first compiled by JavaScript (`u` mode), so its syntax and its errors are
 * JavaScript's; each single-character atom (literal, class, escape, `.`) is then tested by a one-atom
 * JavaScript regex on one character at a time (memoized), so case folding, `\w` under `iu`, `\p{..}` and
 * `.` under `s` mean exactly what they mean in JavaScript. `test` answers as `RegExp.prototype.test`.
 */
import { ValidationError } from '../../errors.ts';

/** A pattern outside the linear-time subset, or over a limit. `rule` says which and why. */
export class UnsafePatternError extends ValidationError {}

/** Limits of {@link compileSafeRegex}. */
export interface SafeRegexLimits {
  /** Longest pattern accepted, in UTF-16 units. @default 200 */
  readonly maxLength?: number;
  /** Most NFA states (counted repetitions are expanded). @default 2000 */
  readonly maxStates?: number;
}

const DEFAULT_MAX_LENGTH = 200;
const DEFAULT_MAX_STATES = 2000;
const MAX_REPEAT = 1000;
const SUPPORTED_FLAGS = /^(?:[ims]{0,3})$/;

type AssertKind = 'start' | 'end' | 'word' | 'notWord';

type Node =
  | { readonly t: 'atom'; readonly source: string }
  | { readonly t: 'seq'; readonly items: readonly Node[] }
  | { readonly t: 'alt'; readonly alts: readonly Node[] }
  | { readonly t: 'rep'; readonly node: Node; readonly min: number; readonly max: number }
  | { readonly t: 'assert'; readonly kind: AssertKind };

const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');
const CONTROL_ESCAPES = new Set('tnvfr');
const CLASS_ESCAPES = new Set('dDwWsS');

const reject = (rule: string): never => {
  throw new UnsafePatternError('pattern', rule);
};

/** Recursive-descent parser of the subset; the syntax was already checked by JavaScript. */
class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.disjunction();
    if (this.i < this.src.length) reject(`unexpected "${this.src[this.i]}" at ${this.i}`);
    return node;
  }

  private disjunction(): Node {
    const alts = [this.alternative()];
    while (this.src[this.i] === '|') {
      this.i++;
      alts.push(this.alternative());
    }
    return alts.length === 1 ? (alts[0] as Node) : { t: 'alt', alts };
  }

  private alternative(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.src[this.i] !== '|' && this.src[this.i] !== ')') {
      items.push(this.term());
    }
    return items.length === 1 ? (items[0] as Node) : { t: 'seq', items };
  }

  private term(): Node {
    const c = this.src[this.i];
    if (c === '^' || c === '$') {
      this.i++;
      return { t: 'assert', kind: c === '^' ? 'start' : 'end' };
    }
    if (c === '\\' && (this.src[this.i + 1] === 'b' || this.src[this.i + 1] === 'B')) {
      this.i += 2;
      return { t: 'assert', kind: this.src[this.i - 1] === 'b' ? 'word' : 'notWord' };
    }
    const atom = this.atom();
    return this.quantified(atom);
  }

  private quantified(node: Node): Node {
    const c = this.src[this.i];
    let min: number;
    let max: number;
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
      [min, max] = c === '*' ? [0, Infinity] : c === '+' ? [1, Infinity] : [0, 1];
    } else if (c === '{') {
      const close = this.src.indexOf('}', this.i);
      const body = close < 0 ? '' : this.src.slice(this.i + 1, close);
      const match = /^(\d{1,9})(,(\d{0,9}))?$/.exec(body);
      if (match === null) return reject(`malformed repetition at ${this.i}`);
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3]);
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) {
        reject(`repetition counts above ${MAX_REPEAT} are not supported`);
      }
      this.i = close + 1;
    } else {
      return node;
    }
    if (this.src[this.i] === '?') this.i++; // lazy: the same language
    return { t: 'rep', node, min, max };
  }

  private atom(): Node {
    const start = this.i;
    const c = this.src[this.i];
    if (c === '(') return this.group();
    if (c === '[') return this.characterClass();
    if (c === '\\') return this.escape();
    if (c === undefined || c === ')' || c === ']' || c === '{' || c === '}' || c === '|') {
      return reject(`unexpected "${c ?? 'end of pattern'}" at ${start}`);
    }
    if (c === '*' || c === '+' || c === '?') return reject(`nothing to repeat at ${start}`);
    const width = (this.src.codePointAt(this.i) ?? 0) > 0xffff ? 2 : 1;
    this.i += width;
    return { t: 'atom', source: this.src.slice(start, this.i) };
  }

  private group(): Node {
    this.i++;
    if (this.src[this.i] === '?') {
      const next = this.src[this.i + 1];
      const after = this.src[this.i + 2];
      if (next === '=' || next === '!' || (next === '<' && (after === '=' || after === '!'))) {
        reject('lookaround ((?=, (?!, (?<=, (?<!) is not supported: it cannot be matched in linear time');
      }
      if (next === ':') {
        this.i += 2;
      } else if (next === '<') {
        const close = this.src.indexOf('>', this.i);
        if (close < 0) reject(`unterminated group name at ${this.i}`);
        this.i = close + 1;
      } else {
        reject('inline modifiers ((?i:...) and the like) are not supported');
      }
    }
    const inner = this.disjunction();
    if (this.src[this.i] !== ')') reject(`unterminated group at ${this.i}`);
    this.i++;
    return inner;
  }

  private characterClass(): Node {
    const start = this.i;
    this.i++;
    while (this.i < this.src.length && this.src[this.i] !== ']') {
      this.i += this.src[this.i] === '\\' ? 2 : 1;
    }
    if (this.i >= this.src.length) reject(`unterminated character class at ${start}`);
    this.i++;
    return { t: 'atom', source: this.src.slice(start, this.i) };
  }

  private escape(): Node {
    const start = this.i;
    const e = this.src[this.i + 1];
    if (e === undefined) return reject('pattern ends with "\\"');
    if (e >= '1' && e <= '9') return reject('backreferences (\\1 ...) are not supported');
    if (e === 'k') return reject('backreferences (\\k<name>) are not supported');
    this.i += 2;
    if (e === 'p' || e === 'P') {
      const close = this.src.indexOf('}', this.i);
      if (this.src[this.i] !== '{' || close < 0) reject(`malformed property escape at ${start}`);
      this.i = close + 1;
    } else if (e === 'x') {
      this.i += 2;
    } else if (e === 'c') {
      this.i += 1;
    } else if (e === 'u') {
      this.unicodeEscape(start);
    } else if (
      !(e === '0' || CLASS_ESCAPES.has(e) || CONTROL_ESCAPES.has(e) || SYNTAX_CHARS.has(e) || e === '-')
    ) {
      reject(`unsupported escape \\${e}`);
    }
    return { t: 'atom', source: this.src.slice(start, this.i) };
  }

  /** `\u{...}`, `\uHHHH`, or a surrogate pair `\uHHHH\uHHHH` (one code point in `u` mode). */
  private unicodeEscape(start: number): void {
    if (this.src[this.i] === '{') {
      const close = this.src.indexOf('}', this.i);
      if (close < 0) reject(`malformed unicode escape at ${start}`);
      this.i = close + 1;
      return;
    }
    const lead = Number.parseInt(this.src.slice(this.i, this.i + 4), 16);
    this.i += 4;
    if (lead >= 0xd800 && lead <= 0xdbff && this.src.startsWith('\\u', this.i)) {
      const trail = Number.parseInt(this.src.slice(this.i + 2, this.i + 6), 16);
      if (trail >= 0xdc00 && trail <= 0xdfff) this.i += 6;
    }
  }
}

/** Whether one character (a code point) matches one atom, as JavaScript says; memoized. */
class CharTest {
  private readonly ascii = new Int8Array(128).fill(-1);
  private readonly other = new Map<number, boolean>();
  constructor(private readonly re: RegExp) {}

  test(cp: number): boolean {
    if (cp < 128) {
      const known = this.ascii[cp] as number;
      if (known >= 0) return known === 1;
      const result = this.re.test(String.fromCodePoint(cp));
      this.ascii[cp] = result ? 1 : 0;
      return result;
    }
    let result = this.other.get(cp);
    if (result === undefined) {
      result = this.re.test(String.fromCodePoint(cp));
      this.other.set(cp, result);
    }
    return result;
  }
}

const CHAR = 0;
const SPLIT = 1;
const ASSERT = 2;
const MATCH = 3;

const ASSERT_CODE: Record<AssertKind, number> = { start: 0, end: 1, word: 2, notWord: 3 };

const isLineTerminator = (cp: number) => cp === 0x0a || cp === 0x0d || cp === 0x2028 || cp === 0x2029;

/** The NFA, built backwards: each node is compiled knowing the state it continues to. */
class Builder {
  readonly kind: number[] = [];
  readonly out1: number[] = [];
  readonly out2: number[] = [];
  readonly chars: (CharTest | null)[] = [];
  readonly asserts: number[] = [];
  private readonly tests = new Map<string, CharTest>();

  constructor(
    private readonly atomFlags: string,
    private readonly maxStates: number,
  ) {}

  state(kind: number, out1 = -1, out2 = -1, char: CharTest | null = null, assert = -1): number {
    if (this.kind.length >= this.maxStates) {
      reject(`the pattern expands to more than ${this.maxStates} states (counted repetitions are expanded)`);
    }
    this.kind.push(kind);
    this.out1.push(out1);
    this.out2.push(out2);
    this.chars.push(char);
    this.asserts.push(assert);
    return this.kind.length - 1;
  }

  compile(node: Node, next: number): number {
    switch (node.t) {
      case 'atom':
        return this.state(CHAR, next, -1, this.charTest(node.source));
      case 'assert':
        return this.state(ASSERT, next, -1, null, ASSERT_CODE[node.kind]);
      case 'seq': {
        let current = next;
        for (let k = node.items.length - 1; k >= 0; k--)
          current = this.compile(node.items[k] as Node, current);
        return current;
      }
      case 'alt': {
        const starts = node.alts.map((alt) => this.compile(alt, next));
        let current = starts[starts.length - 1] as number;
        for (let k = starts.length - 2; k >= 0; k--)
          current = this.state(SPLIT, starts[k] as number, current);
        return current;
      }
      case 'rep': {
        let current = next;
        if (node.max === Infinity) {
          const loop = this.state(SPLIT, -1, next);
          this.out1[loop] = this.compile(node.node, loop);
          current = loop;
        } else {
          for (let k = node.min; k < node.max; k++)
            current = this.state(SPLIT, this.compile(node.node, current), next);
        }
        for (let k = 0; k < node.min; k++) current = this.compile(node.node, current);
        return current;
      }
    }
  }

  private charTest(source: string): CharTest {
    let test = this.tests.get(source);
    if (test === undefined) {
      test = new CharTest(new RegExp(`^(?:${source})$`, this.atomFlags));
      this.tests.set(source, test);
    }
    return test;
  }
}

/** The automaton {@link SafeRegex} runs: parallel arrays indexed by state. */
interface Nfa {
  readonly kind: Uint8Array;
  readonly out1: Int32Array;
  readonly out2: Int32Array;
  readonly chars: readonly (CharTest | null)[];
  readonly asserts: Int8Array;
  readonly start: number;
  /** JavaScript's `\w` under the pattern's flags, for `\b` and `\B`. */
  readonly wordChar: CharTest;
}

/** A compiled pattern of the linear-time subset; `test` answers as `RegExp.prototype.test` would. */
export class SafeRegex {
  private readonly kind: Uint8Array;
  private readonly out1: Int32Array;
  private readonly out2: Int32Array;
  private readonly chars: readonly (CharTest | null)[];
  private readonly asserts: Int8Array;
  private readonly start: number;
  private readonly wordChar: CharTest;
  private readonly multiline: boolean;

  /** Use {@link compileSafeRegex}. */
  constructor(
    readonly source: string,
    readonly flags: string,
    nfa: Nfa,
  ) {
    this.kind = nfa.kind;
    this.out1 = nfa.out1;
    this.out2 = nfa.out2;
    this.chars = nfa.chars;
    this.asserts = nfa.asserts;
    this.start = nfa.start;
    this.wordChar = nfa.wordChar;
    this.multiline = flags.includes('m');
  }

  /** The number of NFA states: the factor of the input length in the matching time. */
  get states(): number {
    return this.kind.length;
  }

  /** Whether the pattern matches anywhere in `input`; O(input length x {@link states}). */
  test(input: string): boolean {
    const cps = codePoints(input);
    const n = cps.length;
    const size = this.kind.length;
    const mark = new Int32Array(size).fill(-1);
    let current = new Int32Array(size);
    let next = new Int32Array(size);
    const stack: number[] = [];
    let generation = 0;
    let count = 0;
    let matched = false;

    // Adds the ε-closure of `from` at `pos` to `list` (char states only); sets `matched` on reaching MATCH.
    const add = (list: Int32Array, from: number, pos: number): void => {
      stack.push(from);
      while (stack.length > 0) {
        const s = stack.pop() as number;
        if (mark[s] === generation) continue;
        mark[s] = generation;
        switch (this.kind[s]) {
          case CHAR:
            list[count++] = s;
            break;
          case SPLIT:
            stack.push(this.out2[s] as number, this.out1[s] as number);
            break;
          case ASSERT:
            if (this.holds(this.asserts[s] as number, cps, pos)) stack.push(this.out1[s] as number);
            break;
          default:
            matched = true;
        }
      }
    };

    add(current, this.start, 0);
    let currentCount = count;
    for (let pos = 0; pos < n && !matched; pos++) {
      const cp = cps[pos] as number;
      generation++;
      count = 0;
      for (let k = 0; k < currentCount; k++) {
        const s = current[k] as number;
        if ((this.chars[s] as CharTest).test(cp)) add(next, this.out1[s] as number, pos + 1);
      }
      add(next, this.start, pos + 1); // a match may start at any position
      [current, next] = [next, current];
      currentCount = count;
    }
    return matched;
  }

  private holds(kind: number, cps: Int32Array, pos: number): boolean {
    const n = cps.length;
    switch (kind) {
      case 0:
        return pos === 0 || (this.multiline && isLineTerminator(cps[pos - 1] as number));
      case 1:
        return pos === n || (this.multiline && isLineTerminator(cps[pos] as number));
      default: {
        const before = pos > 0 && this.wordChar.test(cps[pos - 1] as number);
        const after = pos < n && this.wordChar.test(cps[pos] as number);
        return kind === 2 ? before !== after : before === after;
      }
    }
  }

  /** Distinct per pattern: ajv keys its compiled patterns by this. */
  toString(): string {
    return `/${this.source}/${this.flags}`;
  }
}

function codePoints(input: string): Int32Array {
  const out = new Int32Array(input.length);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const cp = input.codePointAt(i) as number;
    out[n++] = cp;
    if (cp > 0xffff) i++;
  }
  return out.subarray(0, n);
}

/**
 * Compiles `pattern` (ECMAScript syntax, `u` mode) with `flags` (any of `i`, `m`, `s`) for linear-time
 * matching. Throws {@link UnsafePatternError} naming the rule a pattern breaks (syntax errors included).
 */
export function compileSafeRegex(pattern: string, flags = '', limits: SafeRegexLimits = {}): SafeRegex {
  const maxLength = limits.maxLength ?? DEFAULT_MAX_LENGTH;
  if (pattern.length > maxLength) reject(`must be at most ${maxLength} characters`);
  if (!SUPPORTED_FLAGS.test(flags) || new Set(flags).size !== flags.length) {
    reject(`flags must be distinct letters among i, m and s (got "${flags}")`);
  }
  try {
    new RegExp(pattern, `u${flags}`);
  } catch (error) {
    reject(`not a valid regular expression (${(error as Error).message})`);
  }
  const tree = new Parser(pattern).parse();
  const atomFlags = `u${flags.replace('m', '')}`;
  const builder = new Builder(atomFlags, limits.maxStates ?? DEFAULT_MAX_STATES);
  const start = builder.compile(tree, builder.state(MATCH));
  return new SafeRegex(pattern, flags, {
    kind: Uint8Array.from(builder.kind),
    out1: Int32Array.from(builder.out1),
    out2: Int32Array.from(builder.out2),
    chars: builder.chars,
    asserts: Int8Array.from(builder.asserts),
    start,
    wordChar: new CharTest(new RegExp('^\\w$', atomFlags.replace('s', ''))),
  });
}
