/**
 * Regex-based PII and secret redaction with typed placeholders.
 *
 * Detectors run in a fixed order, most specific first (private key blocks, tokens with well-known
 * shapes, AWS keys, key/value assignments, e-mail, then the digit-based detectors), and each one
 * replaces what it finds with a placeholder that no later detector matches. Every detector is guarded
 * by a cheap pre-check (a substring or a short regex) so that ordinary text pays for a few scans only.
 * Every detector runs in time linear in the text, adversarial text included: no regex here can retry
 * an unbounded run from each of its positions, and the international phone detector is a scan that
 * finds what its regex found without the regex's backtracking.
 *
 * Precision over recall where the two conflict: digit runs are only redacted when they have the shape
 * of the kind (separators, a valid Luhn checksum and card prefix, valid SSN areas, valid IP octets),
 * so ids, versions, timestamps and dates stay. Known gaps: national phone formats without a `+`
 * country code (other than North American ones), SSNs written without dashes, and secrets that have
 * neither a known shape nor a key name next to them.
 */
import { isIPv6 } from 'node:net';
import { isJsWhitespace } from '../whitespace.ts';

/** The kinds of PII and secrets that {@link redactPii} detects. */
export const PII_KINDS = [
  'EMAIL',
  'PHONE',
  'CREDIT_CARD',
  'SSN',
  'IPV4',
  'IPV6',
  'AWS_ACCESS_KEY',
  'AWS_SECRET_KEY',
  'SECRET',
] as const;

/** A kind of PII or secret. */
export type PiiKind = (typeof PII_KINDS)[number];

/** The placeholder that replaces each kind (IPv4 and IPv6 share one, their counts stay separate). */
export const PII_PLACEHOLDERS: Readonly<Record<PiiKind, string>> = {
  EMAIL: '[EMAIL]',
  PHONE: '[PHONE]',
  CREDIT_CARD: '[CREDIT_CARD]',
  SSN: '[SSN]',
  IPV4: '[IP_ADDRESS]',
  IPV6: '[IP_ADDRESS]',
  AWS_ACCESS_KEY: '[AWS_ACCESS_KEY]',
  AWS_SECRET_KEY: '[AWS_SECRET_KEY]',
  SECRET: '[SECRET]',
};

/** A zeroed count per kind. */
export function emptyPiiCounts(): Record<PiiKind, number> {
  return {
    EMAIL: 0,
    PHONE: 0,
    CREDIT_CARD: 0,
    SSN: 0,
    IPV4: 0,
    IPV6: 0,
    AWS_ACCESS_KEY: 0,
    AWS_SECRET_KEY: 0,
    SECRET: 0,
  };
}

/** Result of {@link redactPii}. */
export interface RedactionResult {
  text: string;
  /** The counts object passed in (incremented), or a new one. */
  counts: Record<PiiKind, number>;
}

/**
 * Luhn checksum over the digits of `digits` (any non-digit characters are ignored).
 * Returns false when there are no digits.
 */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let n = 0;
  for (let i = digits.length - 1; i >= 0; i--) {
    const c = digits.charCodeAt(i) - 48;
    if (c < 0 || c > 9) continue;
    if (n % 2 === 1) {
      const d = c * 2;
      sum += d > 9 ? d - 9 : d;
    } else sum += c;
    n++;
  }
  return n > 0 && sum % 10 === 0;
}

// ---------------------------------------------------------------------------------------------------
// Secrets with well-known shapes.

const PRIVATE_KEY =
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g;
/**
 * `\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`, tried once per run of token characters:
 * `-` puts word boundaries inside a run, and trying the pattern from each of them rescans the rest of the
 * run every time (quadratic on `eyJ-eyJ-...`). Whether a start in a run can match depends only on what
 * follows the run, so the look-ahead checks that once, from the run's start, and the lazy group 1 (kept
 * in the output) skips to the first start that matches.
 */
const JWT =
  /(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]{4,}\.)([A-Za-z0-9_-]*?)\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const OPENAI = /(?<![A-Za-z0-9_-])sk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}/g;
const GITHUB = /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b/g;
const SLACK = /\bxox[abprse]-[A-Za-z0-9-]{10,}/g;
const GOOGLE = /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g;
const BEARER = /\b(Bearer\s+)([A-Za-z0-9._~+/-]{20,}=*)/g;

// AWS.
const AWS_ACCESS_KEY = /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b/g;
const AWS_ACCESS_KEY_HINT = /A(?:KI|SI|GP|ID|RO|NP|NV|IP)A/;
/** A 40-character AWS secret key right after a key name such as `aws_secret_access_key =`. */
const AWS_SECRET_ASSIGNED =
  /\b((?:aws_?)?secret(?:_?access)?(?:_?key)?["']?\s*[:=]\s*["']?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;
/** Any standalone 40-character base64-ish token; accepted only when it looks random (see below). */
const AWS_SECRET_STANDALONE = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;

// Secrets in key/value assignments: `password=...`, `"api_key": "..."`, `token: ...`. The key and
// separator stay, the value is replaced. Values already redacted (`[SECRET]`) are left alone.
const PLACEHOLDER = /^\[[A-Z_]+\]$/;
const ASSIGNMENT_HINT = /pass|pwd|secret|key|token/i;
const ASSIGNMENT =
  /\b((?:password|passwd|passphrase|pwd|secret|client_?secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key|(?:access|auth|refresh|api|bearer)?[_-]?token)["']?\s*[:=]\s*)(?:"([^"\n]+)"|'([^'\n]+)'|(?!\[[A-Z_]+\])([^\s"',;]{3,}))/gi;

// E-mail: the look-behind anchors the local part at a token start, which keeps matching linear.
const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9_%+-](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;

// ---------------------------------------------------------------------------------------------------
// Digit-based detectors, guarded by: seven digits with at most two separator characters between them.
const SEVEN_DIGITS = /\d(?:[\s().+/-]{0,2}\d){6}/;

/**
 * 13-19 digits, either ungrouped or in the printed groupings (4-4-4-4[-1..3], 4-6-4/5 for Amex and
 * Diners) with one separator character; validated by {@link cardLike}.
 */
const CARD =
  /(?<![\w.+-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5})(?![\w]|[.-]\d)/g;
const SSN = /(?<![\w.-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w]|[.-]\d)/g;
/** North American numbers: separators or parentheses are required, so bare digit runs never match. */
const PHONE_NA =
  /(?<![\w+.-])(?:\+1[\s.-]?|1[\s.-])?(?:\(\d{3}\)[\s.-]?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w]|[.-]\d)/g;

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`(?<![\\w.])${OCTET}(?:\\.${OCTET}){3}(?![\\w]|\\.\\d)`, 'g');
const IPV4_HINT = /\d\.\d{1,3}\.\d/;
/** IPv6 candidates: hex groups with at least two colons (validated with `net.isIPv6`). */
const IPV6 = /(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z]+)?(?![\w:])/g;
const IPV6_HINT = /::|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]/;

/**
 * Replaces PII and secrets in `text` with typed placeholders (`[EMAIL]`, `[PHONE]`, `[CREDIT_CARD]`,
 * `[SSN]`, `[IP_ADDRESS]`, `[AWS_ACCESS_KEY]`, `[AWS_SECRET_KEY]`, `[SECRET]`) and counts each kind.
 * When `counts` is given it is incremented in place (and returned), which avoids an allocation per call.
 */
export function redactPii(text: string, counts?: Record<PiiKind, number>): RedactionResult {
  const c = counts ?? emptyPiiCounts();
  return { text: redactPiiFlagged(text, piiCharacterFlags(text), c), counts: c };
}

/**
 * {@link redactPii}'s text, given `flags`: {@link piiCharacterFlags} of `text`, or of any text that holds
 * every ASCII character that `text` holds (as a caller's own pass over the text before normalization).
 */
export function redactPiiFlagged(text: string, flags: number, c: Record<PiiKind, number>): string {
  let t = text;
  // Each detector below first checks the flags of the characters every match of it needs. Placeholders
  // add only `[`, `]`, `_` and capitals, and no match spans one, so a detector can only match characters
  // of the original text: the flags stay valid as `t` changes.
  const f = flags;
  const upper = (f & UPPER) !== 0;

  // Secrets with well-known shapes.
  if (f & DASH && upper && t.includes('PRIVATE KEY')) t = replaceAll(t, PRIVATE_KEY, 'SECRET', c);
  if (f & DOT && upper && t.includes('eyJ')) t = replaceValue(t, JWT, 'SECRET', c);
  if (f & DASH && t.includes('sk-')) t = replaceAll(t, OPENAI, 'SECRET', c);
  if (f & UNDERSCORE && (t.includes('gh') || t.includes('github_pat_')))
    t = replaceAll(t, GITHUB, 'SECRET', c);
  if (f & DASH && t.includes('xox')) t = replaceAll(t, SLACK, 'SECRET', c);
  if (upper && t.includes('AIza')) t = replaceAll(t, GOOGLE, 'SECRET', c);
  if (upper && t.includes('earer')) t = replaceValue(t, BEARER, 'SECRET', c);

  // AWS keys.
  if (upper && AWS_ACCESS_KEY_HINT.test(t)) t = replaceAll(t, AWS_ACCESS_KEY, 'AWS_ACCESS_KEY', c);
  // Both AWS secret detectors need a 40-character base64 run; the assigned form also needs `:` or `=`,
  // the standalone one (random-looking) a capital and a digit.
  const assigned = (f & ASSIGNS) !== 0;
  const random = upper && (f & DIGIT) !== 0;
  if ((assigned || random) && t.length >= 40 && hasBase64Run(t, 40)) {
    if (assigned && /secret/i.test(t)) t = replaceValue(t, AWS_SECRET_ASSIGNED, 'AWS_SECRET_KEY', c);
    if (random && hasBase64Run(t, 40)) {
      t = t.replace(AWS_SECRET_STANDALONE, (m) => {
        if (!looksRandom(m)) return m;
        c.AWS_SECRET_KEY++;
        return PII_PLACEHOLDERS.AWS_SECRET_KEY;
      });
    }
  }

  // Key/value assignments (every match holds a `:` or `=`).
  if (assigned && ASSIGNMENT_HINT.test(t)) {
    t = t.replace(ASSIGNMENT, (m, key: string, dq?: string, sq?: string, bare?: string) => {
      // Already redacted (by an earlier detector or an earlier pass).
      if (PLACEHOLDER.test(dq ?? sq ?? bare ?? '')) return m;
      // After `:` an unquoted all-letter value is more likely prose ("password: required") than a secret.
      if (bare !== undefined && key.includes(':') && /^[A-Za-z]+$/.test(bare)) return m;
      // A bare `token`/`secret` key is common in prose about tokenizers ("token: 50256"): demand length.
      if (bare !== undefined && bare.length < 8 && /^(?:token|secret)\W/i.test(key)) return m;
      c.SECRET++;
      if (dq !== undefined) return `${key}"${PII_PLACEHOLDERS.SECRET}"`;
      if (sq !== undefined) return `${key}'${PII_PLACEHOLDERS.SECRET}'`;
      return `${key}${PII_PLACEHOLDERS.SECRET}`;
    });
  }

  if (f & AT) t = replaceAll(t, EMAIL, 'EMAIL', c);

  // Digit-based detectors. IPv6 before IPv4 so that `::ffff:192.0.2.1` is one address.
  if (f & COLON && IPV6_HINT.test(t)) {
    t = t.replace(IPV6, (m) => {
      // A sentence may end right after an address: keep trailing dots out of it.
      const core = withoutTrailingDots(m);
      if (core.length < 2 || core.length > 60 || !/\d/.test(core) || !isIPv6(core)) return m;
      c.IPV6++;
      return PII_PLACEHOLDERS.IPV6 + m.slice(core.length);
    });
  }
  if (f & DIGIT && f & DOT && IPV4_HINT.test(t)) t = replaceAll(t, IPV4, 'IPV4', c);
  if (f & SEVEN_DIGITS_OR_MORE && SEVEN_DIGITS.test(t)) {
    t = t.replace(CARD, (m) => {
      if (!cardLike(m)) return m;
      c.CREDIT_CARD++;
      return PII_PLACEHOLDERS.CREDIT_CARD;
    });
    t = replaceAll(t, SSN, 'SSN', c);
    t = replaceAll(t, PHONE_NA, 'PHONE', c);
    if (f & PLUS) t = redactIntlPhones(t, c);
  }
  return t;
}

/** `s` without its trailing dots (`s.replace(/\.+$/, '')`, which is quadratic on inner runs of dots). */
function withoutTrailingDots(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x2e) end--;
  return end === s.length ? s : s.slice(0, end);
}

// ---------------------------------------------------------------------------------------------------
// International phone numbers: a leading `+` country code, then groups; 8-15 digits in all (E.164).
//
// The shape is the regex
//   /(?<![\w+])\+[1-9]\d{0,2}(?:[\s.-]?\(\d{1,4}\))?(?:[\s.-]?\d{1,5}){1,6}(?![\w]|[.-]\d)/g
// whose matches (then kept when they hold 8-15 digits) are found here by the same depth-first search,
// in the same order, so the matches are the same. The regex itself backtracks through every way to cut
// a digit run into groups before it gives up (seconds per MB on `+1` followed by 28 digits and a
// letter); the search remembers the states (position, groups so far) already known to fail, so a
// candidate costs at most a few hundred steps.

/** Most UTF-16 units a match can span: `+`, 3 digits, ` (1234)`, then 6 groups of a separator and 5 digits. */
const PHONE_INTL_SPAN = 1 + 3 + 7 + 6 * 6;
const PHONE_INTL_GROUPS = 6;
/** failed[(pos - start) * 7 + groups] === stamp: that state is known to fail for the current candidate. */
const phoneFailed = new Uint32Array((PHONE_INTL_SPAN + 1) * (PHONE_INTL_GROUPS + 1));
let phoneStamp = 0;

/** Replaces the international phone numbers of `text` (8-15 digits) with `[PHONE]`, counting them. */
export function redactIntlPhones(text: string, counts: Record<PiiKind, number>): string {
  let out = '';
  let from = 0;
  let plus = text.indexOf('+');
  while (plus >= 0) {
    const before = plus > 0 ? text.charCodeAt(plus - 1) : -1;
    const end = isWordChar(before) || before === 0x2b ? -1 : intlPhoneEnd(text, plus);
    if (end < 0) {
      plus = text.indexOf('+', plus + 1);
      continue;
    }
    const digits = countDigits(text.slice(plus, end));
    if (digits >= 8 && digits <= 15) {
      out += text.slice(from, plus) + PII_PLACEHOLDERS.PHONE;
      from = end;
      counts.PHONE++;
    }
    // Like a global regex, the search goes on after the match, kept or not.
    plus = text.indexOf('+', end);
  }
  return from === 0 ? text : out + text.slice(from);
}

/** End of the match that starts with the `+` at `start` (the look-behind already checked), or -1. */
function intlPhoneEnd(s: string, start: number): number {
  const first = s.charCodeAt(start + 1);
  if (!(first >= 0x31 && first <= 0x39)) return -1;
  phoneStamp = phoneStamp === 0xffffffff ? 1 : phoneStamp + 1;
  if (phoneStamp === 1) phoneFailed.fill(0);
  let extra = 0;
  while (extra < 2 && isDigitChar(s.charCodeAt(start + 2 + extra))) extra++;
  // \d{0,2} is greedy: the longest country code first.
  for (let k = extra; k >= 0; k--) {
    const afterCode = start + 2 + k;
    // The area code, when present, is always taken: without it no group can start at its `(`.
    const end = phoneGroups(s, start, areaEnd(s, afterCode), 0);
    if (end >= 0) return end;
  }
  return -1;
}

/** Just past `[\s.-]?\(\d{1,4}\)` at `at`, or `at` when there is none. */
function areaEnd(s: string, at: number): number {
  let i = at;
  if (isPhoneSeparator(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) !== 0x28) return at;
  i++;
  let n = 0;
  while (n < 5 && isDigitChar(s.charCodeAt(i + n))) n++;
  if (n < 1 || n > 4 || s.charCodeAt(i + n) !== 0x29) return at;
  return i + n + 1;
}

/**
 * `(?:[\s.-]?\d{1,5}){groups..6}` then the look-ahead, from `pos`: one more group first (its longest
 * digit run first), then stopping here; the end of the first success, or -1.
 */
function phoneGroups(s: string, start: number, pos: number, groups: number): number {
  const state = (pos - start) * (PHONE_INTL_GROUPS + 1) + groups;
  if (phoneFailed[state] === phoneStamp) return -1;
  if (groups < PHONE_INTL_GROUPS) {
    // An optional separator is taken when present: without it the group would have to start on it.
    const digitsAt = isPhoneSeparator(s.charCodeAt(pos)) ? pos + 1 : pos;
    let run = 0;
    while (run < 5 && isDigitChar(s.charCodeAt(digitsAt + run))) run++;
    for (let d = run; d >= 1; d--) {
      const end = phoneGroups(s, start, digitsAt + d, groups + 1);
      if (end >= 0) return end;
    }
  }
  if (groups >= 1 && phoneEndsAt(s, pos)) return pos;
  phoneFailed[state] = phoneStamp;
  return -1;
}

/** `(?![\w]|[.-]\d)` at `pos`. */
function phoneEndsAt(s: string, pos: number): boolean {
  const c = s.charCodeAt(pos);
  if (isWordChar(c)) return false;
  return !((c === 0x2e || c === 0x2d) && isDigitChar(s.charCodeAt(pos + 1)));
}

function isDigitChar(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** `\w`. */
function isWordChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}

/** `[\s.-]`. */
function isPhoneSeparator(c: number): boolean {
  return c === 0x2e || c === 0x2d || isJsWhitespace(c);
}

// Flags of piiCharacterFlags: one per character (class) that some detector's matches all contain.
const UPPER = 1;
const DIGIT = 2;
const DOT = 4;
const DASH = 8;
const UNDERSCORE = 16;
const COLON = 32;
const EQUALS = 64;
const AT = 128;
const PLUS = 256;
const SEVEN_DIGITS_OR_MORE = 512;
const ASSIGNS = COLON | EQUALS;

/** The flag of each ASCII character (0 for most), for callers that fold the scan into their own pass. */
export const PII_CHARACTER_FLAGS = new Uint16Array(128);
/** The flag of an ASCII digit: the value to count digits by. */
export const PII_DIGIT = DIGIT;
/** The flag set when a text holds at least {@link PII_SEVEN_DIGITS_MIN} digits. */
export const PII_SEVEN_DIGITS = SEVEN_DIGITS_OR_MORE;
export const PII_SEVEN_DIGITS_MIN = 7;
/** Every flag: {@link redactPiiFlagged} then runs each detector that its own pre-checks let through. */
export const PII_EVERY_FLAG = (SEVEN_DIGITS_OR_MORE << 1) - 1;
const CHARACTER_FLAGS = PII_CHARACTER_FLAGS;
for (let ch = 0x41; ch <= 0x5a; ch++) CHARACTER_FLAGS[ch] = UPPER;
for (let ch = 0x30; ch <= 0x39; ch++) CHARACTER_FLAGS[ch] = DIGIT;
CHARACTER_FLAGS[0x2e] = DOT;
CHARACTER_FLAGS[0x2d] = DASH;
CHARACTER_FLAGS[0x5f] = UNDERSCORE;
CHARACTER_FLAGS[0x3a] = COLON;
CHARACTER_FLAGS[0x3d] = EQUALS;
CHARACTER_FLAGS[0x40] = AT;
CHARACTER_FLAGS[0x2b] = PLUS;

/**
 * What {@link redactPiiFlagged} needs to know of a text, from one pass: the flags of the ASCII characters
 * it holds (capitals, digits, `.`, `-`, `_`, `:`, `=`, `@`, `+`), and {@link PII_SEVEN_DIGITS} when it
 * holds at least 7 digits.
 */
export function piiCharacterFlags(text: string): number {
  let flags = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch < 0x80) {
      const flag = CHARACTER_FLAGS[ch] as number;
      flags |= flag;
      digits += flag & DIGIT;
    }
  }
  return digits >= DIGIT * PII_SEVEN_DIGITS_MIN ? flags | SEVEN_DIGITS_OR_MORE : flags;
}

function replaceAll(text: string, re: RegExp, kind: PiiKind, counts: Record<PiiKind, number>): string {
  const placeholder = PII_PLACEHOLDERS[kind];
  return text.replace(re, () => {
    counts[kind]++;
    return placeholder;
  });
}

/** Replaces the second capture group, keeping the first (a key name or a scheme) in place. */
function replaceValue(text: string, re: RegExp, kind: PiiKind, counts: Record<PiiKind, number>): string {
  const placeholder = PII_PLACEHOLDERS[kind];
  return text.replace(re, (_m, prefix: string) => {
    counts[kind]++;
    return prefix + placeholder;
  });
}

function countDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/**
 * A card number candidate: an issuer prefix in use (first digit 2-6: Mastercard, Amex, Diners, JCB,
 * Visa, Discover, UnionPay, Maestro; this keeps out millisecond timestamps and most ids) and a valid
 * Luhn checksum.
 */
function cardLike(m: string): boolean {
  const first = m.charCodeAt(0) - 48;
  return first >= 2 && first <= 6 && luhnValid(m);
}

/** 1 for the characters of [A-Za-z0-9/+]. */
const BASE64_CHAR = new Uint8Array(128);
for (let ch = 0; ch < 128; ch++) {
  if ((ch >= 97 && ch <= 122) || (ch >= 65 && ch <= 90) || (ch >= 47 && ch <= 57) || ch === 43)
    BASE64_CHAR[ch] = 1;
}

function isBase64Char(ch: number): boolean {
  return ch < 128 && BASE64_CHAR[ch] === 1;
}

/**
 * Whether `s` holds at least `min` consecutive characters of [A-Za-z0-9/+]. Skips ahead: a run of
 * `min` ending at or after `end` must include `end`, so one character outside the class rules out
 * every window that contains it.
 */
function hasBase64Run(s: string, min: number): boolean {
  let end = min - 1;
  while (end < s.length) {
    if (!isBase64Char(s.charCodeAt(end))) {
      end += min;
      continue;
    }
    // Scan back from `end` for a character outside the class within the window.
    let q = end - 1;
    const start = end - min + 1;
    while (q >= start && isBase64Char(s.charCodeAt(q))) q--;
    if (q < start) return true;
    end = q + min;
  }
  return false;
}

const SEEN = new Uint8Array(128);

/**
 * Whether a 40-character token looks like a random base64 secret: upper case, lower case and digits
 * all present, and at least 22 distinct characters (a random 40-character base64 string has about 29, and
 * fewer than 22 in 0.03% of cases;
 * paths, words and hex digests have far fewer or lack a class).
 */
function looksRandom(s: string): boolean {
  let upper = 0;
  let lower = 0;
  let digit = 0;
  let distinct = 0;
  const seen = SEEN;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch >= 65 && ch <= 90) upper++;
    else if (ch >= 97 && ch <= 122) lower++;
    else if (ch >= 48 && ch <= 57) digit++;
    if (seen[ch & 127] === 0) {
      seen[ch & 127] = 1;
      distinct++;
    }
  }
  seen.fill(0);
  return upper > 0 && lower > 0 && digit > 0 && distinct >= 22;
}
