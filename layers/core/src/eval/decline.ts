/**
 * Whether a text declines to answer ("I don't know", "the passages do not say", "could not find ...")
 * rather than answering: one list of phrases for the abstention metric (a whole answer) and for the
 * offline judge (which does not count a declining sentence as a claim). Linear in the text's length.
 */
import { OFFLINE_NO_ANSWER } from '../models/offline.ts';

/** Text as the detector compares it: lowercase, typographic apostrophes straightened, whitespace collapsed. */
function normalizeForDecline(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/\s+/g, ' ');
}

/**
 * Phrases that say "I will not answer this". The gateway's answer when retrieval finds nothing ("I could
 * not find anything relevant ... so I cannot answer it from them") is covered by "could not find" and
 * "cannot answer"; the offline model's is listed as it is.
 */
export const DECLINE_PHRASES: readonly string[] = [
  "i don't know",
  'i do not know',
  'i dont know',
  'cannot answer',
  "can't answer",
  'can not answer',
  'unable to answer',
  'not able to answer',
  'not in the context',
  'not in the provided context',
  'not in the given context',
  'not in the documents',
  'not in the provided documents',
  'not in the given documents',
  'could not find',
  "couldn't find",
  'unable to find',
  'not enough information',
  'insufficient information',
  'no relevant information',
  'cannot find',
  "can't find",
  'found nothing',
  'no information',
  "don't have information",
  'do not have information',
  'do not contain',
  'does not contain',
  "don't contain",
  "doesn't contain",
  'do not say',
  'does not say',
  "don't say",
  "doesn't say",
  'do not mention',
  'does not mention',
  'not mentioned',
  normalizeForDecline(OFFLINE_NO_ANSWER).replace(/\.$/, ''),
];

// A fixed alternation of literals, no quantifier: at most (sum of phrase lengths) steps per position.
const DECLINE = new RegExp(DECLINE_PHRASES.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));

/** Whether the text declines (contains one of {@link DECLINE_PHRASES}). */
export function declines(text: string): boolean {
  return DECLINE.test(normalizeForDecline(text));
}
