/**
 * A gzip'd ustar archive writer and reader: the training source that SageMaker's training toolkit unpacks
 * (`sagemaker_submit_directory`), and the local training stand-in's placeholder model archive.
 * Deterministic: entries sorted by name, every mtime 0, uid/gid 0, the gzip header's mtime 0.
 */
import { gunzipSync, gzipSync } from 'node:zlib';

/** One file of a tar archive. */
export interface TarEntry {
  readonly name: string;
  readonly content: Buffer | string;
}

const BLOCK = 512;

/**
 * A gzip'd ustar archive of `entries` (regular files, mode 0644), sorted by name.
 * @throws Error for a name longer than ustar can hold (100 bytes, or 155 + 100 split at a slash).
 */
export function tarGz(entries: readonly TarEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const blocks: Buffer[] = [];
  for (const entry of sorted) {
    const data = typeof entry.content === 'string' ? Buffer.from(entry.content, 'utf8') : entry.content;
    blocks.push(header(entry.name, data.length));
    blocks.push(data);
    const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (padding > 0) blocks.push(Buffer.alloc(padding));
  }
  // End of archive: two zero blocks.
  blocks.push(Buffer.alloc(BLOCK * 2));
  return gzipSync(Buffer.concat(blocks), { level: 9 });
}

function header(path: string, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const [prefix, name] = splitName(path);
  block.write(name, 0, 100, 'utf8');
  writeOctal(block, 0o644, 100, 8); // mode
  writeOctal(block, 0, 108, 8); // uid
  writeOctal(block, 0, 116, 8); // gid
  writeOctal(block, size, 124, 12); // size
  writeOctal(block, 0, 136, 12); // mtime
  block.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  block.write('0', 156, 1, 'ascii'); // typeflag: regular file
  block.write('ustar\u0000', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  block.write('root', 265, 32, 'ascii'); // uname
  block.write('root', 297, 32, 'ascii'); // gname
  writeOctal(block, 0, 329, 8); // devmajor
  writeOctal(block, 0, 337, 8); // devminor
  block.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return block;
}

function splitName(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) return ['', path];
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  throw new Error(`Tar entry name '${path}' is too long for a ustar header`);
}

/** Writes `value` as zero-padded octal digits followed by a NUL, filling `length` bytes. */
function writeOctal(block: Buffer, value: number, offset: number, length: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new Error(`Value ${value} does not fit a ${length}-byte tar field`);
  block.write(`${digits}\u0000`, offset, length, 'ascii');
}

/** One file read back from an archive by {@link readTarGz}. */
export interface TarFile {
  readonly name: string;
  readonly content: Buffer;
}

/**
 * Reads the regular files of a gzip'd tar archive, checking each header's checksum.
 * @throws Error when the bytes are not a gzip'd tar archive.
 */
export function readTarGz(bytes: Uint8Array): TarFile[] {
  const tar = gunzipSync(bytes);
  const files: TarFile[] = [];
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const block = tar.subarray(offset, offset + BLOCK);
    if (block.every((byte) => byte === 0)) break;
    const stored = Number.parseInt(field(block, 148, 8).trim() || 'NaN', 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    if (stored !== sum) throw new Error(`Tar header at byte ${offset} has a bad checksum`);
    const size = Number.parseInt(field(block, 124, 12).trim() || '0', 8);
    const prefix = field(block, 345, 155);
    const name = field(block, 0, 100);
    const type = String.fromCharCode(block[156] ?? 0);
    offset += BLOCK;
    if (type === '0' || type === '\u0000') {
      files.push({
        name: prefix ? `${prefix}/${name}` : name,
        content: Buffer.from(tar.subarray(offset, offset + size)),
      });
    }
    offset += Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

/** The names of the files in a gzip'd tar archive, in archive order. */
export function listTarGz(bytes: Uint8Array): string[] {
  return readTarGz(bytes).map((file) => file.name);
}

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}
