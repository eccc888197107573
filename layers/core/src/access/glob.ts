/**
 * Name patterns in which `*` matches any run of characters (none included) and every other character
 * matches itself. No regex is built from a pattern: a pattern is cut at its stars into literal parts;
 * the first part must start the name, the last must end it, and each part in between is found, leftmost
 * first, after the one before it (which is exact for star-only patterns) with a Knuth-Morris-Pratt
 * search. Matching is therefore linear in the length of the name plus that of the pattern, whatever
 * either holds.
 */

/** A compiled pattern: tells whether a name matches it. */
export type Glob = (name: string) => boolean;

const STAR = 42;

/** Whether a pattern is made of stars only (it matches every name). */
export function isMatchAll(pattern: string): boolean {
  if (pattern.length === 0) return false;
  for (let i = 0; i < pattern.length; i++) if (pattern.charCodeAt(i) !== STAR) return false;
  return true;
}

/** Whether a pattern has no star (it matches exactly one name: itself). */
export function isLiteral(pattern: string): boolean {
  return !pattern.includes('*');
}

/**
 * Compiles a pattern once, to match many names. The parts between stars stay where they are in the
 * pattern (offsets, no copies), and one table holds the KMP failure function of every part at the
 * part's own offsets, so compiling is linear too, however many stars the pattern has.
 */
export function compileGlob(pattern: string): Glob {
  const firstStar = pattern.indexOf('*');
  if (firstStar < 0) return (name) => name === pattern;
  const lastStar = pattern.lastIndexOf('*');
  const head = pattern.slice(0, firstStar);
  const tail = pattern.slice(lastStar + 1);
  // The star-free runs between the first and the last star, as [start, end) offsets into the pattern.
  const starts: number[] = [];
  const ends: number[] = [];
  const table = new Int32Array(pattern.length);
  let fixed = head.length + tail.length;
  for (let i = firstStar + 1; i < lastStar; ) {
    if (pattern.charCodeAt(i) === STAR) {
      i++;
      continue;
    }
    const start = i;
    while (i < lastStar && pattern.charCodeAt(i) !== STAR) i++;
    starts.push(start);
    ends.push(i);
    fixed += i - start;
    // table[start + j]: the longest proper border of the part's first j + 1 characters.
    let k = 0;
    for (let j = start + 1; j < i; j++) {
      const c = pattern.charCodeAt(j);
      while (k > 0 && c !== pattern.charCodeAt(start + k)) k = table[start + k - 1] as number;
      if (c === pattern.charCodeAt(start + k)) k++;
      table[j] = k;
    }
  }
  return (name) => {
    if (name.length < fixed || !name.startsWith(head) || !name.endsWith(tail)) return false;
    const end = name.length - tail.length;
    let at = head.length;
    for (let p = 0; p < starts.length; p++) {
      const start = starts[p] as number;
      const length = (ends[p] as number) - start;
      // KMP: the first occurrence of the part at or after `at` that ends by `end`.
      let k = 0;
      let found = -1;
      for (let i = at; i < end; i++) {
        const c = name.charCodeAt(i);
        while (k > 0 && c !== pattern.charCodeAt(start + k)) k = table[start + k - 1] as number;
        if (c === pattern.charCodeAt(start + k)) k++;
        if (k === length) {
          found = i + 1;
          break;
        }
      }
      if (found < 0) return false;
      at = found;
    }
    return true;
  };
}

/** Whether `name` matches `pattern` (compile once with {@link compileGlob} to match many names). */
export function globMatch(pattern: string, name: string): boolean {
  return compileGlob(pattern)(name);
}

/** Whether `name` matches any of the compiled patterns. */
export function matchesAny(globs: readonly Glob[], name: string): boolean {
  for (const glob of globs) if (glob(name)) return true;
  return false;
}
