/**
 * The regexes over caller-supplied text that linear-time code replaced, kept as the reference the
 * rewrites must agree with (property tests) and as the baseline of `bench/hostile-input.ts`. Each one
 * backtracks super-linearly on the input named beside it; nothing in the product uses them.
 */

/** ATX heading (chunker). Quadratic on `# a` + a long run of spaces + `b`. */
export const OLD_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
/** First-level heading (Markdown title). Quadratic on the same line. */
export const OLD_H1_LINE = /^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
export const OLD_FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
export const OLD_FRONT_MATTER_KEY = /^([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*))?$/;
/** International phone number (PII redaction). Exponential in the digits it cuts: `+1`, 25–30 digits, a letter. */
export const OLD_PHONE_INTL =
  /(?<![\w+])\+[1-9]\d{0,2}(?:[\s.-]?\(\d{1,4}\))?(?:[\s.-]?\d{1,5}){1,6}(?![\w]|[.-]\d)/g;
/** JWT (PII redaction) before it was anchored at runs of token characters. Quadratic on `eyJ-eyJ-...`. */
export const OLD_JWT = /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

/** What the old phone regex redacted: matches of 8–15 digits become `[PHONE]`. */
export function oldIntlPhones(text: string): { text: string; count: number } {
  let count = 0;
  const out = text.replace(OLD_PHONE_INTL, (m) => {
    const digits = m.replace(/\D/g, '').length;
    if (digits < 8 || digits > 15) return m;
    count++;
    return '[PHONE]';
  });
  return { text: out, count };
}
