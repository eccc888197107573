import type { AnyNode, Element } from 'domhandler';
import { parseDocument as parseHtml } from 'htmlparser2';
import { fileTitle, type ParsedDocument } from './document.ts';

/** HTML to Markdown: scripts, navigation and chrome dropped; headings, lists, tables and code kept as Markdown. */

/** Elements whose content is never part of the document's text. */
export const DROPPED = new Set([
  'script',
  'style',
  'noscript',
  'template',
  'nav',
  'header',
  'footer',
  'aside',
  'head',
  'svg',
  'iframe',
  'canvas',
  'object',
  'button',
  'select',
  'dialog',
]);

/** Elements that start a new block; everything else is rendered inline. */
export const BLOCKS = new Set([
  'address',
  'article',
  'blockquote',
  'body',
  'dd',
  'details',
  'div',
  'dl',
  'dt',
  'fieldset',
  'figcaption',
  'figure',
  'form',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'html',
  'li',
  'main',
  'ol',
  'p',
  'pre',
  'section',
  'summary',
  'table',
  'tbody',
  'td',
  'tfoot',
  'th',
  'thead',
  'tr',
  'ul',
]);

export function parseHtmlDocument(key: string, html: string): ParsedDocument {
  const dom = parseHtml(html, { decodeEntities: true, lowerCaseTags: true });
  const titleEl = findElement(dom.children, (el) => el.name === 'title');
  const h1 = findElement(dom.children, (el) => el.name === 'h1' && !hasDroppedAncestor(el));
  const candidates = [titleEl, h1].map((el) => (el === undefined ? '' : collapse(textOf(el)).trim()));
  const title = candidates.find((t) => t !== '') ?? fileTitle(key);
  const text = htmlToMarkdown(html, dom.children);
  return { id: key, title, text, format: 'markdown', source: key, metadata: {} };
}

/**
 * Converts HTML to Markdown: ATX headings, paragraphs, nested lists, fenced code blocks, block quotes
 * and pipe tables; links become their text; scripts, styles and page chrome (nav, header, footer,
 * aside) are dropped; entities are decoded.
 */
export function htmlToMarkdown(html: string, nodes?: AnyNode[]): string {
  const children = nodes ?? parseHtml(html, { decodeEntities: true, lowerCaseTags: true }).children;
  return renderBlocks(children).join('\n\n');
}

export function isElement(node: AnyNode): node is Element {
  return node.type === 'tag' || node.type === 'script' || node.type === 'style';
}

export function findElement(nodes: readonly AnyNode[], test: (el: Element) => boolean): Element | undefined {
  for (const node of nodes) {
    if (!isElement(node)) continue;
    if (test(node)) return node;
    const found = findElement(node.children, test);
    if (found !== undefined) return found;
  }
  return undefined;
}

export function hasDroppedAncestor(el: Element): boolean {
  for (let p = el.parent; p !== null; p = p.parent) if (isElement(p) && DROPPED.has(p.name)) return true;
  return false;
}

/** The raw text content of a node (no whitespace collapsing). */
export function textOf(node: AnyNode): string {
  if (node.type === 'text' || node.type === 'cdata') {
    return 'data' in node && typeof node.data === 'string' ? node.data : childrenText(node);
  }
  if (isElement(node)) return node.name === 'br' ? '\n' : childrenText(node);
  return '';
}

export function childrenText(node: AnyNode): string {
  return 'children' in node ? node.children.map(textOf).join('') : '';
}

export function collapse(text: string): string {
  return text.replace(/[ \t\n\r\f\v]+/g, ' ');
}

/** Renders a list of nodes in block context: runs of inline nodes become paragraphs. */
export function renderBlocks(nodes: readonly AnyNode[]): string[] {
  const out: string[] = [];
  let run: AnyNode[] = [];
  const flush = (): void => {
    const para = paragraph(renderInline(run));
    if (para !== '') out.push(para);
    run = [];
  };
  for (const node of nodes) {
    if (isElement(node) && DROPPED.has(node.name)) continue;
    if (isElement(node) && BLOCKS.has(node.name)) {
      flush();
      out.push(...renderBlock(node));
    } else run.push(node);
  }
  flush();
  return out;
}

export function renderBlock(el: Element): string[] {
  const name = el.name;
  const heading = /^h([1-6])$/.exec(name)?.[1];
  if (heading !== undefined) {
    const text = oneLine(renderInline(el.children));
    return text === '' ? [] : [`${'#'.repeat(Number(heading))} ${text}`];
  }
  switch (name) {
    case 'p': {
      const para = paragraph(renderInline(el.children));
      return para === '' ? [] : [para];
    }
    case 'pre':
      return [codeBlock(el)];
    case 'ul':
    case 'ol': {
      const list = renderList(el);
      return list === '' ? [] : [list];
    }
    case 'blockquote': {
      const inner = renderBlocks(el.children).join('\n\n');
      return inner === '' ? [] : [inner.replace(/^/gm, '> ').replace(/^> $/gm, '>')];
    }
    case 'table': {
      const table = renderTable(el);
      return table === '' ? [] : [table];
    }
    case 'hr':
      return ['---'];
    default:
      return renderBlocks(el.children);
  }
}

export function codeBlock(pre: Element): string {
  const code = pre.children.find((c): c is Element => isElement(c) && c.name === 'code');
  const classes = `${pre.attribs.class ?? ''} ${code?.attribs.class ?? ''}`;
  const lang = /(?:^|\s)(?:language|lang)-([\w+#.-]+)/.exec(classes)?.[1] ?? '';
  // trimEnd() strips what /\s+$/ matches, without rescanning every inner run of whitespace.
  const body = textOf(pre).replace(/^\n/, '').trimEnd();
  const fence = '`'.repeat(Math.max(3, longestBacktickRun(body) + 1));
  return `${fence}${lang}\n${body}\n${fence}`;
}

export function renderList(list: Element): string {
  const ordered = list.name === 'ol';
  let n = Number.parseInt(list.attribs.start ?? '1', 10);
  if (!Number.isFinite(n)) n = 1;
  const items: string[] = [];
  for (const child of list.children) {
    if (!isElement(child) || DROPPED.has(child.name)) continue;
    const nodes = child.name === 'li' ? child.children : [child];
    const body = renderBlocks(nodes).join('\n');
    if (body === '') continue;
    const marker = ordered ? `${n++}. ` : '- ';
    const pad = ' '.repeat(marker.length);
    items.push(marker + body.replace(/\n(?!$)/g, `\n${pad}`).replace(/\n\s+\n/g, '\n\n'));
  }
  return items.join('\n');
}

export function renderTable(table: Element): string {
  const rows: string[][] = [];
  const collectRows = (nodes: readonly AnyNode[]): void => {
    for (const node of nodes) {
      if (!isElement(node)) continue;
      if (node.name === 'tr') {
        const cells = node.children
          .filter((c): c is Element => isElement(c) && (c.name === 'td' || c.name === 'th'))
          .map((c) => oneLine(renderBlocks(c.children).join(' ')).replace(/\|/g, '\\|'));
        if (cells.length > 0) rows.push(cells);
      } else if (node.name !== 'table') collectRows(node.children);
    }
  };
  collectRows(table.children);
  const caption = findElement(table.children, (el) => el.name === 'caption');
  const header = rows[0];
  if (header === undefined) return '';
  const width = Math.max(...rows.map((r) => r.length));
  const line = (cells: string[]): string =>
    `| ${Array.from({ length: width }, (_, i) => cells[i] ?? '').join(' | ')} |`;
  const lines = [line(header), `| ${Array.from({ length: width }, () => '---').join(' | ')} |`];
  for (const row of rows.slice(1)) lines.push(line(row));
  const captionText = caption === undefined ? '' : oneLine(collapse(textOf(caption)));
  return captionText === '' ? lines.join('\n') : `${captionText}\n\n${lines.join('\n')}`;
}

/** Inline rendering: collapsed whitespace, `\n` for <br>, emphasis and inline code kept, links as text. */
export function renderInline(nodes: readonly AnyNode[]): string {
  let out = '';
  for (const node of nodes) {
    if (node.type === 'text') {
      out += collapse('data' in node && typeof node.data === 'string' ? node.data : '');
      continue;
    }
    if (!isElement(node) || DROPPED.has(node.name)) continue;
    switch (node.name) {
      case 'br':
        out += '\n';
        break;
      case 'img': {
        const alt = node.attribs.alt?.trim();
        if (alt) out += alt;
        break;
      }
      case 'code':
      case 'kbd':
      case 'samp': {
        const code = collapse(textOf(node));
        if (code.trim() === '') break;
        const ticks = '`'.repeat(longestBacktickRun(code) + 1);
        const pad = code.startsWith('`') || code.endsWith('`') ? ' ' : '';
        out += `${ticks}${pad}${code}${pad}${ticks}`;
        break;
      }
      case 'strong':
      case 'b':
        out += wrap(renderInline(node.children), '**');
        break;
      case 'em':
      case 'i':
        out += wrap(renderInline(node.children), '_');
        break;
      default:
        out += BLOCKS.has(node.name)
          ? ` ${renderBlocks(node.children).join(' ')} `
          : renderInline(node.children);
    }
  }
  return out;
}

/** The length of the longest run of backticks in `text` (0 when none); a loop, not a spread of every run. */
export function longestBacktickRun(text: string): number {
  let longest = 0;
  let run = 0;
  for (let i = text.indexOf('`'); i >= 0 && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x60) {
      run++;
      if (run > longest) longest = run;
    } else run = 0;
  }
  return longest;
}

export function wrap(text: string, mark: string): string {
  const inner = text.trim();
  if (inner === '') return text;
  const lead = text.startsWith(' ') ? ' ' : '';
  const trail = text.endsWith(' ') ? ' ' : '';
  return `${lead}${mark}${inner}${mark}${trail}`;
}

export function oneLine(text: string): string {
  return collapse(text).trim();
}

/** Trims each line and escapes line starts that Markdown would read as structure (headings, fences, ...). */
export function paragraph(text: string): string {
  return text
    .split('\n')
    .map((line) => escapeLineStart(line.trim()))
    .filter((line, i, all) => line !== '' || (i > 0 && i < all.length - 1))
    .join('\n')
    .trim();
}

export function escapeLineStart(line: string): string {
  if (/^(?:#{1,6}(?:\s|$)|>|[-+*](?:\s|$)|`{3,}|~{3,}|=+\s*$|-{3,}\s*$)/.test(line)) return `\\${line}`;
  return line.replace(/^(\d+)([.)])(?=\s|$)/, '$1\\$2');
}
