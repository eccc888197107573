/**
 * Escaping for every piece of caller or model text that goes into a report. HTML is built with the
 * `html` tagged template, which escapes whatever it interpolates unless it is already `SafeHtml`: text
 * is safe by construction, in element content and in double-quoted attributes alike (SVG included).
 */

/** Markup that is already safe to place in a document (built by `html` or `svg`, never from raw input). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

// biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point.
const HTML_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f]/g;

/**
 * Escapes text for HTML element content and quoted attribute values. Control characters other than
 * tab, newline and carriage return (which HTML parsers reject or mangle) become U+FFFD.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c).replace(HTML_CONTROL, '\ufffd');
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function interpolate(value: Interpolation): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map((v) => interpolate(v)).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** Tagged template for markup: interpolated values are escaped unless they are `SafeHtml` (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: readonly Interpolation[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i += 1) out += interpolate(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

/** Joins fragments (escaping any plain text among them), leaving out empty ones (`null`, `undefined`, `false`). */
export function join(parts: readonly Interpolation[], separator = ''): SafeHtml {
  const present = parts.filter((p) => p !== null && p !== undefined && p !== false);
  return new SafeHtml(present.map((p) => interpolate(p)).join(separator));
}

/** An id or class token from arbitrary text: letters, digits, `-` and `_` only. */
export function token(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return cleaned === '' ? 'x' : cleaned;
}

/** Cuts text to `max` code points (never inside a surrogate pair), ending with `…` when cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const points = Array.from(text);
  if (points.length <= max) return text;
  return `${points.slice(0, Math.max(0, max - 1)).join('')}…`;
}

function utf8Bytes(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/**
 * Cuts text so that, once escaped for HTML, it takes at most `maxBytes` bytes of UTF-8 (ending with `…`
 * when cut): the size of a report stays bounded whatever the text is made of.
 */
export function clipForHtml(text: string, maxBytes: number): string {
  if (text.length * 6 <= maxBytes) return text;
  const budget = maxBytes - 3;
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const cost = HTML_ESCAPES[ch]?.length ?? utf8Bytes(ch.codePointAt(0) ?? 0);
    if (used + cost > budget) return `${text.slice(0, end)}…`;
    used += cost;
    end += ch.length;
  }
  return text;
}

const MARKDOWN_SPECIALS = /[\\`*_[\]|~<>&#!]/g;
const MARKDOWN_ENTITIES: Readonly<Record<string, string>> = { '<': '&lt;', '>': '&gt;', '&': '&amp;' };

/**
 * Text for one line of Markdown (a table cell, a list item, a heading): whitespace runs (newlines
 * included) become one space, it is cut to `max` code points, Markdown punctuation is backslash-escaped
 * (pipes and backticks included), `<`, `>` and `&` become entities, and an `@` that could start a
 * mention is followed by a word joiner, so that model text cannot notify anyone on a pull request.
 */
export function escapeMarkdown(text: string, max = Number.POSITIVE_INFINITY): string {
  const line = truncate(text.replace(/\s+/g, ' ').trim(), max);
  return line
    .replace(MARKDOWN_SPECIALS, (c) => MARKDOWN_ENTITIES[c] ?? `\\${c}`)
    .replace(/(^|[^A-Za-z0-9_])@(?=[A-Za-z0-9_-])/g, '$1@\u2060')
    .replace(CONTROL, '');
}
