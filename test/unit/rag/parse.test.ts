import fc from 'fast-check';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '#core/errors.ts';
import { chunkDocument, findSections } from '#core/rag/chunk.ts';
import {
  DocumentParseError,
  EncryptedDocumentError,
  InvalidRecordError,
  InvalidUtf8Error,
  type ParsedDocument,
} from '#core/rag/parse/document.ts';
import { htmlToMarkdown } from '#core/rag/parse/html.ts';
import { splitFrontMatter } from '#core/rag/parse/markdown.ts';
import { invalidUtf8Offset } from '#core/rag/parse/utf8.ts';
import { parseDocument } from '#core/rag/parse.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

async function one(key: string, bytes: Uint8Array, contentType?: string): Promise<ParsedDocument> {
  const docs = await parseDocument(contentType === undefined ? { key, bytes } : { key, bytes, contentType });
  expect(docs).toHaveLength(1);
  const [doc] = docs;
  if (doc === undefined) throw new Error('no document');
  return doc;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const MARKDOWN = [
  '---',
  'title: "Rotating \\"keys\\""',
  'author: Ops Team',
  'version: 3',
  'draft: false',
  'reviewed: ~',
  'tags: [kms, security]',
  'owner:',
  '  name: nested',
  "quote: 'it''s fine' # trailing comment",
  '---',
  '',
  '# Key rotation',
  '',
  'Rotate every 90 days.',
  '',
  '```bash',
  '# not a heading',
  'aws kms enable-key-rotation --key-id "$KEY"',
  '```',
  '',
  '## Verify',
  '',
  'Check the rotation status.',
  '',
].join('\n');

describe('markdown', () => {
  it('strips front matter into flat metadata and keeps the body', async () => {
    const doc = await one('docs/ops/rotation.md', utf8(MARKDOWN));
    expect(doc).toMatchObject({
      id: 'docs/ops/rotation.md',
      title: 'Rotating "keys"',
      format: 'markdown',
      source: 'docs/ops/rotation.md',
      metadata: {
        title: 'Rotating "keys"',
        author: 'Ops Team',
        version: 3,
        draft: false,
        reviewed: null,
        quote: "it's fine",
      },
    });
    expect(doc.metadata).not.toHaveProperty('tags');
    expect(doc.metadata).not.toHaveProperty('owner');
    expect(doc.metadata).not.toHaveProperty('name');
    expect(doc.text.startsWith('# Key rotation\n')).toBe(true);
    expect(doc.text).toContain('```bash\n# not a heading\n');
    expect(doc.pages).toBeUndefined();
    const headings = findSections(doc.text, true).map((s) => s.headings);
    expect(headings).toEqual([['Key rotation'], ['Key rotation', 'Verify']]);
  });

  it('takes the first h1 outside code fences, then the file name, as title', async () => {
    const fenced = '```\n# inside\n```\n\nIntro\n\n# Real title\n';
    expect((await one('a/guide.markdown', utf8(fenced))).title).toBe('Real title');
    expect((await one('a/notes.MD', utf8('just text\n'))).title).toBe('notes');
  });

  it('leaves an unclosed front matter block in the text', () => {
    const text = '---\ntitle: x\nno closing fence';
    expect(splitFrontMatter(text)).toEqual({ metadata: {}, body: text });
  });

  it('strips a BOM and normalizes CRLF', async () => {
    const bytes = concat(
      new Uint8Array([0xef, 0xbb, 0xbf]),
      utf8('---\r\ntitle: T\r\n---\r\n# H\r\nbody\r\n'),
    );
    const doc = await one('x.md', bytes);
    expect(doc.title).toBe('T');
    expect(doc.text).toBe('# H\nbody\n');
  });
});

describe('plain text', () => {
  it('decodes UTF-8, normalizes CRLF and lone CR, titles with the file name', async () => {
    const bytes = concat(new Uint8Array([0xef, 0xbb, 0xbf]), utf8('Grüße\r\nline two\rline three'));
    expect(await one('in/2024/faq.v2.txt', bytes)).toEqual({
      id: 'in/2024/faq.v2.txt',
      title: 'faq.v2',
      text: 'Grüße\nline two\nline three',
      format: 'text',
      source: 'in/2024/faq.v2.txt',
      metadata: {},
    });
  });

  it('names the byte offset of invalid UTF-8', async () => {
    const bytes = concat(utf8('héllo '), new Uint8Array([0xc3, 0x28]), utf8(' world'));
    const error = await rejection(parseDocument({ key: 'bad.txt', bytes }));
    expect(error).toBeInstanceOf(InvalidUtf8Error);
    expect(error).toMatchObject({ offset: 7, key: 'bad.txt', expose: true, name: 'InvalidUtf8Error' });
    expect((error as Error).message).toBe('bad.txt: invalid UTF-8 at byte offset 7');
  });

  it('finds the same first bad offset as a strict decoder rejects', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const offset = invalidUtf8Offset(bytes);
        let valid = true;
        try {
          decoder.decode(bytes);
        } catch {
          valid = false;
        }
        expect(offset === bytes.length).toBe(valid);
        if (!valid) expect(() => decoder.decode(bytes.slice(0, offset))).not.toThrow();
      }),
      { numRuns: 2000 },
    );
    expect(invalidUtf8Offset(new Uint8Array([0x61, 0xed, 0xa0, 0x80]))).toBe(1);
    expect(invalidUtf8Offset(new Uint8Array([0xf0, 0x9f, 0x98]))).toBe(0);
    expect(invalidUtf8Offset(new Uint8Array([0xc0, 0xaf]))).toBe(0);
  });
});

const HTML = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Deploying &amp; Rolling Back</title>
  <style>body { color: red; }</style>
  <script>window.track('page');</script>
</head>
<body>
  <header><a href="/">Home</a> | Site banner</header>
  <nav><ul><li><a href="/docs">Docs</a></li><li>Blog</li></ul></nav>
  <main>
    <h1>Deploying a model</h1>
    <p>Use the <a href="https://example.com/cli">CLI</a> &mdash; it&#39;s the <strong>fastest</strong>
       way. Cost: 5 &lt; 10 &gt; 2.</p>
    <h2>Steps</h2>
    <ol>
      <li>Build the image</li>
      <li>Push it
        <ul><li>to <em>ECR</em></li><li>tag it</li></ul>
      </li>
    </ol>
    <pre><code class="language-bash"># build
docker build -t model:1 .
echo "a &amp;&amp; b"
</code></pre>
    <h3>Limits</h3>
    <table>
      <thead><tr><th>Name</th><th>Value</th></tr></thead>
      <tbody><tr><td>Timeout</td><td>15 min</td></tr><tr><td>Pipe | char</td><td>1</td></tr></tbody>
    </table>
    <p># not a heading</p>
    <blockquote><p>Roll back within <code>5</code> minutes.</p></blockquote>
    <aside>Related: other posts</aside>
    <script>alert('x')</script>
  </main>
  <footer>&copy; 2026 Example</footer>
</body>
</html>`;

describe('html', () => {
  it('converts to markdown, drops page chrome and scripts, decodes entities', async () => {
    const doc = await one('site/deploy.html', utf8(HTML));
    expect(doc).toMatchObject({
      id: 'site/deploy.html',
      title: 'Deploying & Rolling Back',
      format: 'markdown',
    });
    expect(doc.text).toBe(
      [
        '# Deploying a model',
        "Use the CLI — it's the **fastest** way. Cost: 5 < 10 > 2.",
        '## Steps',
        '1. Build the image\n2. Push it\n   - to _ECR_\n   - tag it',
        '```bash\n# build\ndocker build -t model:1 .\necho "a && b"\n```',
        '### Limits',
        '| Name | Value |\n| --- | --- |\n| Timeout | 15 min |\n| Pipe \\| char | 1 |',
        '\\# not a heading',
        '> Roll back within `5` minutes.',
      ].join('\n\n'),
    );
    for (const dropped of ['Site banner', 'Docs', 'Blog', 'track', 'alert', 'Related', '2026', 'color']) {
      expect(doc.text).not.toContain(dropped);
    }
  });

  it('keeps its headings as sections the chunker sees', async () => {
    const doc = await one('site/deploy.htm', utf8(HTML));
    const sections = findSections(doc.text, true);
    expect(sections.map((s) => s.headings)).toEqual([
      ['Deploying a model'],
      ['Deploying a model', 'Steps'],
      ['Deploying a model', 'Steps', 'Limits'],
    ]);
    const chunks = chunkDocument(doc, { maxTokens: 64, overlapTokens: 8 });
    expect(chunks.some((c) => c.text.includes('docker build') && c.headings.at(-1) === 'Steps')).toBe(true);
  });

  it('falls back to the first h1, then the file name, for the title', async () => {
    expect((await one('a.html', utf8('<body><h2>x</h2><h1>Main &quot;one&quot;</h1></body>'))).title).toBe(
      'Main "one"',
    );
    expect((await one('p/page.html', utf8('<p>only text</p>'))).title).toBe('page');
  });

  it('uses a fence longer than any backtick run inside the code', () => {
    expect(htmlToMarkdown('<pre>a ``` b</pre>')).toBe('````\na ``` b\n````');
  });
});

async function twoPagePdf(): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  pdf.setTitle('Quarterly Ops Report');
  pdf.setAuthor('Ops');
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const p1 = pdf.addPage([400, 400]);
  p1.drawText('First page heading', { x: 40, y: 340, size: 14, font });
  p1.drawText('Latency improved by 12 percent.', { x: 40, y: 310, size: 11, font });
  const p2 = pdf.addPage([400, 400]);
  p2.drawText('Second page body text.', { x: 40, y: 340, size: 11, font });
  return pdf.save();
}

/** A minimal PDF whose standard security handler needs a user password that is not the empty one. */
function encryptedPdf(): Uint8Array {
  const hex = (n: number, fill: string): string => fill.repeat(n);
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>',
    `<< /Filter /Standard /V 1 /R 2 /O <${hex(32, 'ab')}> /U <${hex(32, 'cd')}> /P -4 >>`,
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((obj, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${obj}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) body += `${String(off).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Encrypt 4 0 R /ID [<${hex(16, '01')}> <${hex(16, '01')}>] >>\n`;
  body += `startxref\n${xref}\n%%EOF\n`;
  return utf8(body);
}

describe('pdf', () => {
  it('extracts text page by page with offsets, title and metadata', async () => {
    const doc = await one('reports/q3.pdf', await twoPagePdf());
    expect(doc).toMatchObject({
      id: 'reports/q3.pdf',
      title: 'Quarterly Ops Report',
      format: 'text',
      metadata: { pageCount: 2, author: 'Ops' },
    });
    const pages = doc.pages ?? [];
    expect(pages.map((p) => p.page)).toEqual([1, 2]);
    const [first, second] = pages;
    if (first === undefined || second === undefined) throw new Error('missing pages');
    expect(first.start).toBe(0);
    expect(doc.text.slice(first.end, second.start)).toBe('\n\n');
    expect(second.end).toBe(doc.text.length);
    const page1 = doc.text.slice(first.start, first.end);
    expect(page1).toContain('First page heading');
    expect(page1).toContain('Latency improved by 12 percent.');
    expect(doc.text.slice(second.start, second.end)).toBe('Second page body text.');
  });

  it('titles an untitled PDF with its file name', async () => {
    const pdf = await PDFDocument.create();
    const font = await pdf.embedFont(StandardFonts.Helvetica);
    pdf.addPage([200, 200]).drawText('hello', { x: 20, y: 100, size: 12, font });
    const doc = await one('x/untitled.pdf', await pdf.save());
    expect(doc.title).toBe('untitled');
    expect(doc.text).toBe('hello');
  });

  it('names encrypted and corrupt PDFs', async () => {
    const encrypted = await rejection(parseDocument({ key: 'locked.pdf', bytes: encryptedPdf() }));
    expect(encrypted).toBeInstanceOf(EncryptedDocumentError);
    expect((encrypted as Error).message).toMatch(/^locked\.pdf: the PDF is encrypted/);
    const corrupt = await rejection(parseDocument({ key: 'broken.pdf', bytes: utf8('not a pdf at all') }));
    expect(corrupt).toBeInstanceOf(DocumentParseError);
    expect(corrupt).not.toBeInstanceOf(EncryptedDocumentError);
    expect((corrupt as Error).message).toMatch(/^broken\.pdf: not a readable PDF/);
  });

  it('refuses a PDF without a text layer', async () => {
    const pdf = await PDFDocument.create();
    pdf.addPage([200, 200]);
    const error = await rejection(parseDocument({ key: 'scan.pdf', bytes: await pdf.save() }));
    expect(error).toBeInstanceOf(DocumentParseError);
    expect((error as Error).message).toContain('no extractable text');
  });
});

describe('jsonl', () => {
  it('yields one document per record with default ids', async () => {
    const lines = [
      JSON.stringify({ id: 'faq-1', text: 'How do I rotate keys?', title: 'Keys', metadata: { lang: 'en' } }),
      '',
      JSON.stringify({ text: 'Second record', source: 's3://b/orig.txt' }),
    ];
    const docs = await parseDocument({ key: 'rag/faq.jsonl', bytes: utf8(`${lines.join('\r\n')}\n`) });
    expect(docs).toEqual([
      {
        id: 'faq-1',
        title: 'Keys',
        text: 'How do I rotate keys?',
        format: 'text',
        source: 'rag/faq.jsonl',
        metadata: { lang: 'en' },
      },
      {
        id: 'rag/faq.jsonl#3',
        text: 'Second record',
        format: 'text',
        source: 's3://b/orig.txt',
        metadata: {},
      },
    ]);
  });

  it('names the line of a bad record', async () => {
    const bad = async (body: string): Promise<InvalidRecordError> => {
      const error = await rejection(parseDocument({ key: 'r.jsonl', bytes: utf8(body) }));
      expect(error).toBeInstanceOf(InvalidRecordError);
      return error as InvalidRecordError;
    };
    const ok = JSON.stringify({ text: 'fine' });
    const notJson = await bad(`${ok}\n{"text": oops}\n`);
    expect(notJson.line).toBe(2);
    expect(notJson.message).toMatch(/^r\.jsonl: line 2: not valid JSON/);
    const schema = await bad(`${ok}\n${ok}\n${JSON.stringify({ text: 'x', extra: 1 })}\n`);
    expect(schema.line).toBe(3);
    expect(schema.message).toContain('line 3: ');
    expect(schema.message).toContain('extra');
    const empty = await bad(JSON.stringify({ text: '' }));
    expect(empty.line).toBe(1);
    const duplicate = await bad(
      `${JSON.stringify({ id: 'a', text: 'x' })}\n${JSON.stringify({ id: 'a', text: 'y' })}`,
    );
    expect(duplicate.message).toBe('r.jsonl: line 2: duplicate id "a" (first on line 1)');
  });
});

describe('document type', () => {
  it('refuses unsupported extensions with a validation error on key', async () => {
    const error = await rejection(parseDocument({ key: 'deck.PPTX', bytes: new Uint8Array() }));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      field: 'key',
      rule: 'unsupported document type ".pptx"; expected md, markdown, txt, html, htm, pdf or jsonl',
    });
  });

  it('uses the content type only when the key has no extension', async () => {
    expect((await one('uploads/abc123', utf8('<h1>Hi</h1>'), 'text/html; charset=utf-8')).text).toBe('# Hi');
    expect((await one('notes.txt', utf8('<h1>Hi</h1>'), 'text/html')).text).toBe('<h1>Hi</h1>');
    const error = await rejection(parseDocument({ key: 'uploads/abc123', bytes: new Uint8Array() }));
    expect(error).toMatchObject({
      field: 'key',
      rule: expect.stringMatching(/^unsupported document type \(no/),
    });
  });
});
