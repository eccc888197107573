/**
 * Regenerates the three non-Markdown files of `corpus/lambda-guide/`, so that retrieval tests exercise
 * every parser of `layers/core/src/rag/parse.ts` on real pages:
 *
 * - `best-practices.md` → `best-practices.txt` (plain text, wrapped at 80 columns),
 * - `invocation-async.md` → `invocation-async.html` (an HTML page: h1/h2, p, ul/ol, pre),
 * - `provisioned-concurrency.md` → `provisioned-concurrency.pdf` (Letter pages made with pdf-lib).
 *
 * The originals are read from the AWS Lambda Developer Guide checkout (CC BY-SA 4.0, see
 * `corpus/lambda-guide/SOURCE.md`); each converted page replaces its Markdown original in the corpus,
 * so every topic is there once. The output is deterministic: the same input gives the same bytes (fixed
 * PDF dates and metadata, no timestamps anywhere).
 *
 * Usage: `npx tsx scripts/corpus-formats.ts [doc_source folder]`
 * (default `/work/shared/corpus/aws-lambda-developer-guide/doc_source`).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFDocument, type PDFFont, type PDFPage, rgb, StandardFonts } from 'pdf-lib';

const DEFAULT_SOURCE = '/work/shared/corpus/aws-lambda-developer-guide/doc_source';
const CORPUS = join(dirname(fileURLToPath(import.meta.url)), '..', 'corpus', 'lambda-guide');
/** The upstream commit the pages come from (see SOURCE.md). */
const SOURCE_COMMIT = '03f7fcb0b771f031f7cb3aa43e8b18407c00b3a8';
/** Creation and modification date written into the PDF, fixed so that the output never changes. */
const PDF_DATE = new Date('2024-01-01T00:00:00Z');

// ---------------------------------------------------------------------------------------------------
// A Markdown reader for the subset the guide's pages use: ATX headings (with `<a name>` anchors),
// paragraphs with hard breaks, nested `+`/`-`/`*` and `1.` lists, fenced code blocks (also inside list
// items), and inline code, links, images, bold, italics and backslash escapes.

/** Inline content. */
type Inline =
  | { readonly kind: 'text'; readonly value: string }
  | { readonly kind: 'code'; readonly value: string }
  | { readonly kind: 'strong' | 'em'; readonly children: readonly Inline[] }
  | { readonly kind: 'link'; readonly href: string; readonly children: readonly Inline[] }
  | { readonly kind: 'image'; readonly src: string; readonly alt: string }
  | { readonly kind: 'break' };

/** Block content. */
type Block =
  | {
      readonly kind: 'heading';
      readonly level: number;
      readonly id?: string;
      readonly content: readonly Inline[];
    }
  | { readonly kind: 'paragraph'; readonly content: readonly Inline[] }
  | { readonly kind: 'code'; readonly text: string }
  | { readonly kind: 'list'; readonly ordered: boolean; readonly items: readonly (readonly Block[])[] };

const HEADING = /^(#{1,6})[ \t]+(.*?)[ \t]*$/;
const FENCE = /^( *)(`{3,}|~{3,})/;
const LIST_ITEM = /^( {0,3})([+*-]|\d+\.)[ \t]+(.*)$/;
const ANCHOR = /<a name="([^"]*)"><\/a>/g;
const ESCAPABLE = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/;

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function isBlank(line: string | undefined): boolean {
  return line === undefined || line.trim() === '';
}

/** Drops up to `n` leading spaces. */
function dedent(line: string, n: number): string {
  return line.slice(Math.min(n, indentOf(line)));
}

/** Parses the lines of a Markdown document (or of a list item's body) into blocks. */
export function parseBlocks(lines: readonly string[]): Block[] {
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (isBlank(line)) {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const indent = fence[1]?.length ?? 0;
      const marker = fence[2] ?? '```';
      const body: string[] = [];
      i++;
      while (i < lines.length && !(lines[i] ?? '').trim().startsWith(marker))
        body.push(dedent(lines[i++] ?? '', indent));
      i++;
      blocks.push({ kind: 'code', text: body.join('\n').replace(/\s+$/, '') });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const raw = heading[2] ?? '';
      const id = [...raw.matchAll(ANCHOR)][0]?.[1];
      blocks.push({
        kind: 'heading',
        level: heading[1]?.length ?? 1,
        ...(id !== undefined ? { id } : {}),
        content: parseInline(raw.replace(ANCHOR, '').trim()),
      });
      i++;
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      const ordered = /\d/.test(item[2] ?? '');
      const items: Block[][] = [];
      while (i < lines.length) {
        const m = LIST_ITEM.exec(lines[i] ?? '');
        if (!m || /\d/.test(m[2] ?? '') !== ordered) break;
        const markerIndent = m[1]?.length ?? 0;
        const contentIndent = markerIndent + (m[2]?.length ?? 1) + 1;
        const body = [m[3] ?? ''];
        i++;
        while (i < lines.length) {
          const next = lines[i] ?? '';
          if (isBlank(next)) {
            // A blank line stays in the item only when indented content follows it.
            let j = i;
            while (j < lines.length && isBlank(lines[j])) j++;
            if (j < lines.length && indentOf(lines[j] ?? '') > markerIndent) {
              while (i < j) body.push(dedent(lines[i++] ?? '', contentIndent));
              continue;
            }
            break;
          }
          const continues =
            indentOf(next) > markerIndent ||
            (!isBlank(lines[i - 1]) && !LIST_ITEM.test(next) && !HEADING.test(next) && !FENCE.test(next));
          if (!continues) break;
          body.push(dedent(next, contentIndent));
          i++;
        }
        items.push(parseBlocks(body));
        // Blank lines between items of one list.
        let j = i;
        while (j < lines.length && isBlank(lines[j])) j++;
        const after = LIST_ITEM.exec(lines[j] ?? '');
        if (after && /\d/.test(after[2] ?? '') === ordered && (after[1]?.length ?? 0) === markerIndent) i = j;
        else break;
      }
      blocks.push({ kind: 'list', ordered, items });
      continue;
    }
    const paragraph: string[] = [];
    while (i < lines.length) {
      const next = lines[i] ?? '';
      if (
        isBlank(next) ||
        (paragraph.length > 0 && (FENCE.test(next) || HEADING.test(next) || LIST_ITEM.test(next)))
      )
        break;
      paragraph.push(next);
      i++;
    }
    blocks.push({ kind: 'paragraph', content: paragraphInline(paragraph) });
  }
  return blocks;
}

/** A paragraph's lines as inline content: a line ending in two spaces is a hard break, else a space. */
function paragraphInline(lines: readonly string[]): Inline[] {
  const out: Inline[] = [];
  lines.forEach((line, n) => {
    if (n > 0) out.push(/ {2,}$/.test(lines[n - 1] ?? '') ? { kind: 'break' } : { kind: 'text', value: ' ' });
    out.push(...parseInline(line.trim()));
  });
  return mergeText(out);
}

/** The index of the `]` closing the `[` at `open`, skipping escapes and nested brackets; -1 if none. */
function closingBracket(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return i;
  }
  return -1;
}

/** Parses inline Markdown: escapes, code spans, images, links, `**bold**`, `*italics*`; stray HTML anchors are dropped. */
export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  let plain = '';
  const flush = (): void => {
    if (plain !== '') out.push({ kind: 'text', value: plain });
    plain = '';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    const rest = text.slice(i);
    if (c === '\\' && ESCAPABLE.test(text[i + 1] ?? '')) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = /^`+/.exec(rest)?.[0] ?? '`';
      const close = text.indexOf(run, i + run.length);
      if (close > 0) {
        flush();
        out.push({ kind: 'code', value: text.slice(i + run.length, close).trim() });
        i = close + run.length;
        continue;
      }
    }
    const anchor = /^<a name="[^"]*"><\/a>/.exec(rest);
    if (anchor) {
      i += anchor[0].length;
      continue;
    }
    const image = c === '!' && text[i + 1] === '[';
    if (c === '[' || image) {
      const open = image ? i + 1 : i;
      const close = closingBracket(text, open);
      const target = close > 0 ? /^\(([^)\s]*)\)/.exec(text.slice(close + 1)) : null;
      if (target) {
        flush();
        const label = text.slice(open + 1, close);
        const href = target[1] ?? '';
        // The guide writes an empty alt text as `\[\]` (and a missing image's as `\[Image NOT FOUND\]`).
        const alt = inlineText(parseInline(label)).replace(/^\[(.*)\]$/, '$1');
        if (image) out.push({ kind: 'image', src: href, alt });
        else out.push({ kind: 'link', href, children: parseInline(label) });
        i = close + 1 + target[0].length;
        continue;
      }
    }
    if (c === '*') {
      const marker = text.startsWith('**', i) ? '**' : '*';
      const close = text.indexOf(marker, i + marker.length);
      if (close > i + marker.length) {
        flush();
        out.push({
          kind: marker === '**' ? 'strong' : 'em',
          children: parseInline(text.slice(i + marker.length, close).trim()),
        });
        i = close + marker.length;
        continue;
      }
    }
    plain += c;
    i++;
  }
  flush();
  return mergeText(out);
}

function mergeText(nodes: readonly Inline[]): Inline[] {
  const out: Inline[] = [];
  for (const node of nodes) {
    const last = out[out.length - 1];
    if (node.kind === 'text' && last?.kind === 'text')
      out[out.length - 1] = { kind: 'text', value: last.value + node.value };
    else out.push(node);
  }
  return out;
}

/** Inline content as plain text: links become their text, images disappear, hard breaks become newlines. */
function inlineText(nodes: readonly Inline[]): string {
  return nodes.map(nodeText).join('');
}

function nodeText(node: Inline): string {
  switch (node.kind) {
    case 'text':
    case 'code':
      return node.value;
    case 'strong':
    case 'em':
    case 'link':
      return inlineText(node.children);
    case 'image':
      return '';
    case 'break':
      return '\n';
  }
}

/** Inline text of a paragraph with the spaces an image left behind tidied away. */
function plainInline(nodes: readonly Inline[]): string {
  return inlineText(nodes)
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .trim();
}

// ---------------------------------------------------------------------------------------------------
// HTML

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function inlineHtml(nodes: readonly Inline[]): string {
  return nodes.map(nodeHtml).join('').trim();
}

function nodeHtml(node: Inline): string {
  switch (node.kind) {
    case 'text':
      return escapeHtml(node.value);
    case 'code':
      return `<code>${escapeHtml(node.value)}</code>`;
    case 'strong':
      return `<strong>${inlineHtml(node.children)}</strong>`;
    case 'em':
      return `<em>${inlineHtml(node.children)}</em>`;
    case 'link':
      return `<a href="${escapeHtml(node.href)}">${inlineHtml(node.children)}</a>`;
    case 'image':
      return `<img src="${escapeHtml(node.src)}" alt="${escapeHtml(node.alt)}">`;
    case 'break':
      return '<br>';
  }
}

function blocksHtml(blocks: readonly Block[], indent: string): string[] {
  const out: string[] = [];
  for (const block of blocks) {
    switch (block.kind) {
      case 'heading': {
        const id = block.id === undefined ? '' : ` id="${escapeHtml(block.id)}"`;
        out.push(`${indent}<h${block.level}${id}>${inlineHtml(block.content)}</h${block.level}>`);
        break;
      }
      case 'paragraph':
        out.push(`${indent}<p>${inlineHtml(block.content)}</p>`);
        break;
      case 'code':
        out.push(`${indent}<pre><code>${escapeHtml(block.text)}</code></pre>`);
        break;
      case 'list': {
        const tag = block.ordered ? 'ol' : 'ul';
        out.push(`${indent}<${tag}>`);
        for (const item of block.items) {
          const [first, ...rest] = item;
          if (first?.kind === 'paragraph' && rest.length === 0) {
            out.push(`${indent}  <li>${inlineHtml(first.content)}</li>`);
          } else if (first?.kind === 'paragraph') {
            out.push(
              `${indent}  <li>${inlineHtml(first.content)}`,
              ...blocksHtml(rest, `${indent}    `),
              `${indent}  </li>`,
            );
          } else {
            out.push(`${indent}  <li>`, ...blocksHtml(item, `${indent}    `), `${indent}  </li>`);
          }
        }
        out.push(`${indent}</${tag}>`);
        break;
      }
    }
  }
  return out;
}

/** A standalone HTML page for `blocks`; the attribution goes in a `<footer>` (page chrome, not indexed). */
export function toHtml(blocks: readonly Block[], fileName: string): string {
  const h1 = blocks.find((b) => b.kind === 'heading' && b.level === 1);
  const title = h1?.kind === 'heading' ? plainInline(h1.content) : fileName;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '  <meta charset="utf-8">',
    `  <title>${escapeHtml(title)}</title>`,
    '</head>',
    '<body>',
    '  <main>',
    ...blocksHtml(blocks, '    '),
    '  </main>',
    '  <footer>',
    `    <p>${escapeHtml(attribution(fileName, 'HTML'))}</p>`,
    '  </footer>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Plain text

const TEXT_WIDTH = 80;

/** Greedy word wrap of one line of text into lines of at most `width` characters (longer words stay whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** A paragraph wrapped to `width`, each hard break starting a new line. */
function wrapParagraph(nodes: readonly Inline[], width: number): string[] {
  return plainInline(nodes)
    .split('\n')
    .flatMap((line) => wrap(line, width));
}

function blocksText(blocks: readonly Block[], width: number): string[] {
  const out: string[] = [];
  for (const block of blocks) {
    if (out.length > 0) out.push('');
    switch (block.kind) {
      case 'heading': {
        const text = plainInline(block.content);
        out.push(text);
        if (block.level <= 2) out.push((block.level === 1 ? '=' : '-').repeat(text.length));
        break;
      }
      case 'paragraph':
        out.push(...wrapParagraph(block.content, width));
        break;
      case 'code':
        out.push(...block.text.split('\n').map((line) => (line.trim() === '' ? '' : `    ${line}`)));
        break;
      case 'list':
        block.items.forEach((item, n) => {
          const marker = block.ordered ? `${n + 1}. ` : '- ';
          const pad = ' '.repeat(marker.length);
          const body = blocksText(item, width - marker.length);
          // Loose lists (items of several blocks) get a blank line between items.
          if (n > 0 && block.items.some((it) => it.length > 1)) out.push('');
          body.forEach((line, k) => {
            out.push(line === '' ? '' : `${k === 0 ? marker : pad}${line}`);
          });
        });
        break;
    }
  }
  return out;
}

/** The page as plain text: underlined headings, wrapped paragraphs, `-`/`1.` lists, code indented 4 spaces. */
export function toText(blocks: readonly Block[], fileName: string): string {
  return [
    ...blocksText(blocks, TEXT_WIDTH),
    '',
    ...wrap(attribution(fileName, 'plain text'), TEXT_WIDTH),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// PDF

interface PdfFonts {
  readonly regular: PDFFont;
  readonly bold: PDFFont;
  readonly mono: PDFFont;
}

/** One line to draw. */
interface PdfLine {
  readonly text: string;
  readonly font: keyof PdfFonts;
  readonly size: number;
  readonly x: number;
  /** Space above the line, in points, on top of its own height. */
  readonly gap: number;
}

const PAGE = { width: 612, height: 792, margin: 72 } as const;
const BODY_SIZE = 10;
const CODE_SIZE = 8.5;
const HEADING_SIZES = [18, 14, 12, 11, 10, 10] as const;
const LEADING = 1.35;

/** Replaces what the standard fonts' WinAnsi encoding cannot show. */
function winAnsi(font: PDFFont, text: string): string {
  let out = '';
  for (const ch of text) {
    try {
      font.encodeText(ch);
      out += ch;
    } catch {
      out += '?';
    }
  }
  return out;
}

/** Greedy wrap by measured width. */
function wrapWidth(text: string, font: PDFFont, size: number, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (line !== '' && font.widthOfTextAtSize(candidate, size) > width) {
      lines.push(line);
      line = word;
    } else line = candidate;
  }
  if (line !== '') lines.push(line);
  return lines;
}

function layoutBlocks(blocks: readonly Block[], fonts: PdfFonts, x: number, width: number): PdfLine[] {
  const out: PdfLine[] = [];
  for (const block of blocks) {
    switch (block.kind) {
      case 'heading': {
        const size = HEADING_SIZES[block.level - 1] ?? BODY_SIZE;
        wrapWidth(winAnsi(fonts.bold, plainInline(block.content)), fonts.bold, size, width).forEach(
          (text, n) => {
            out.push({ text, font: 'bold', size, x, gap: n === 0 ? size : 0 });
          },
        );
        break;
      }
      case 'paragraph':
        plainInline(block.content)
          .split('\n')
          .flatMap((line) => wrapWidth(winAnsi(fonts.regular, line), fonts.regular, BODY_SIZE, width))
          .forEach((text, n) => {
            out.push({ text, font: 'regular', size: BODY_SIZE, x, gap: n === 0 ? BODY_SIZE * 0.6 : 0 });
          });
        break;
      case 'code': {
        const perLine = Math.floor(width / fonts.mono.widthOfTextAtSize('M', CODE_SIZE));
        block.text.split('\n').forEach((raw, n) => {
          const line = winAnsi(fonts.mono, raw.replace(/\t/g, '    '));
          const pieces = line.length === 0 ? [''] : (line.match(new RegExp(`.{1,${perLine}}`, 'g')) ?? ['']);
          pieces.forEach((text, k) => {
            out.push({
              text,
              font: 'mono',
              size: CODE_SIZE,
              x,
              gap: n === 0 && k === 0 ? BODY_SIZE * 0.6 : 0,
            });
          });
        });
        break;
      }
      case 'list':
        block.items.forEach((item, n) => {
          const marker = block.ordered ? `${n + 1}.` : '\u2022';
          const inner = layoutBlocks(item, fonts, x + 16, width - 16);
          inner.forEach((line, k) => {
            if (k === 0) out.push({ text: marker, font: 'regular', size: BODY_SIZE, x, gap: line.gap });
            // The marker and the item's first line share a baseline (a negative gap: see drawPdf).
            out.push(k === 0 ? { ...line, gap: -1 } : line);
          });
        });
        break;
    }
  }
  return out;
}

/** Draws the lines onto as many Letter pages as they need. */
function drawPdf(doc: PDFDocument, lines: readonly PdfLine[], fonts: PdfFonts): void {
  let page: PDFPage | undefined;
  let y = 0;
  let lastY = 0;
  for (const line of lines) {
    const height = line.size * LEADING;
    if (line.gap < 0 && page !== undefined) {
      page.drawText(line.text, {
        x: line.x,
        y: lastY,
        size: line.size,
        font: fonts[line.font],
        color: rgb(0, 0, 0),
      });
      continue;
    }
    if (page === undefined || y - line.gap - height < PAGE.margin) {
      page = doc.addPage([PAGE.width, PAGE.height]);
      y = PAGE.height - PAGE.margin;
    } else y -= line.gap;
    y -= height;
    lastY = y;
    page.drawText(line.text, { x: line.x, y, size: line.size, font: fonts[line.font], color: rgb(0, 0, 0) });
  }
}

/** A PDF of the page, with fixed metadata and dates. */
export async function toPdf(blocks: readonly Block[], fileName: string): Promise<Uint8Array> {
  const doc = await PDFDocument.create({ updateMetadata: false });
  const fonts: PdfFonts = {
    regular: await doc.embedFont(StandardFonts.Helvetica),
    bold: await doc.embedFont(StandardFonts.HelveticaBold),
    mono: await doc.embedFont(StandardFonts.Courier),
  };
  const h1 = blocks.find((b) => b.kind === 'heading' && b.level === 1);
  doc.setTitle(h1?.kind === 'heading' ? plainInline(h1.content) : fileName);
  doc.setAuthor('Amazon Web Services');
  doc.setSubject(attribution(fileName, 'PDF'));
  doc.setKeywords(['AWS Lambda', 'developer guide']);
  doc.setCreator('scripts/corpus-formats.ts');
  doc.setProducer('pdf-lib');
  doc.setCreationDate(PDF_DATE);
  doc.setModificationDate(PDF_DATE);
  doc.setLanguage('en');
  drawPdf(doc, layoutBlocks(blocks, fonts, PAGE.margin, PAGE.width - 2 * PAGE.margin), fonts);
  return doc.save({ useObjectStreams: false });
}

// ---------------------------------------------------------------------------------------------------

function attribution(fileName: string, format: string): string {
  return (
    `Converted to ${format} from ${fileName} of the AWS Lambda Developer Guide ` +
    `(github.com/awsdocs/aws-lambda-developer-guide, commit ${SOURCE_COMMIT.slice(0, 12)}). ` +
    'Copyright Amazon.com, Inc. or its affiliates. Licensed under CC BY-SA 4.0.'
  );
}

/** Which page becomes which format. */
export const CONVERSIONS = [
  { page: 'best-practices.md', format: 'txt' },
  { page: 'invocation-async.md', format: 'html' },
  { page: 'provisioned-concurrency.md', format: 'pdf' },
] as const;

async function main(): Promise<void> {
  const source = process.argv[2] ?? DEFAULT_SOURCE;
  for (const { page, format } of CONVERSIONS) {
    const markdown = (await readFile(join(source, page), 'utf8')).replace(/\r\n?/g, '\n');
    const blocks = parseBlocks(markdown.split('\n'));
    const target = join(CORPUS, page.replace(/\.md$/, `.${format}`));
    const bytes =
      format === 'pdf'
        ? await toPdf(blocks, page)
        : format === 'html'
          ? toHtml(blocks, page)
          : toText(blocks, page);
    await writeFile(target, bytes);
    await rm(join(CORPUS, page), { force: true });
    console.log(`${page} -> ${target}`);
  }
}

await main();
