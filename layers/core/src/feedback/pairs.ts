import { createHash } from 'node:crypto';
import { SUITE_LINE_LIMITS } from '#contracts/evaluation/suite.ts';
import {
  type PreferenceMetadata,
  type PreferencePair,
  ratingPolarity,
  type StoredFeedback,
  type StoredInteraction,
  type UnpairedRecord,
} from '#contracts/feedback/feedback.ts';
import { normalizeText } from '../dataprep/normalize.ts';
import { parseSuiteItem } from '../eval/suite.ts';
import type { EvalMessage } from '../eval/types.ts';
import { canonicalJson } from '../prompts/hash.ts';
import { isHeldOut } from './holdout.ts';

/**
 * From people's verdicts on the gateway's answers to preference training data (no I/O). The export
 * handler loads the verdicts (the pending ones and every sibling sharing their `promptHash`), their
 * interactions and the annotators' standing, and this module decides what they make:
 *
 * - **Answers are pooled by text.** Within one prompt (one `promptHash`: the same rendered system prompt
 *   and messages), interactions whose answers are the same text after normalization are one answer: a
 *   model at temperature 0 answers the same prompt the same way, and votes on the same text are votes on
 *   one thing. An answer's polarity is the majority of its annotators' votes (one vote per annotator:
 *   their latest verdict on any interaction that gave it; up, 4-5 stars positive, down, 1-2 stars
 *   negative, 3 stars no vote). A tie makes no polarity (skipped `disagreement`), and neither does an
 *   answer with only 3-star votes (skipped `neutral`). Pooling also means that no text is the chosen
 *   answer of one `opposite_ratings` pair and the rejected one of another.
 * - **Pairs** (DPO, {@link PreferencePair}): a correction → chosen the correction, rejected the model's
 *   answer (`correction`); a preferred answer → the same (`preferred_answer`); a positive and a negative
 *   answer to the same prompt → chosen the positive (`opposite_ratings`), at most
 *   {@link MAX_OPPOSITE_PAIRS_PER_PROMPT} per prompt in one build (the first by id; the rest skipped
 *   `prompt_cap`), so that a popular prompt with many answers cannot outweigh the rest of an export. Several annotators who wrote the same
 *   correction (after normalization) make one pair, with all of them as its annotators. A written answer
 *   equal to the model's (after normalization) makes nothing (skipped `same_answer`).
 * - **Unpaired records** (KTO, {@link UnpairedRecord}): an answer with a polarity that is in no pair
 *   makes one, labelled `true` when positive. An answer already on either side of a pair makes none (the
 *   pair says more).
 * - **Held-out prompts** ({@link isHeldOut}): a prompt in the held-out share makes no training data at
 *   all. It becomes one golden suite line ({@link HeldOutLine}) for the win-rate report, with the chosen
 *   answer of its first pair (by id) as the reference when it has one.
 *
 * Verdicts are left out (and counted in `skipped` by reason) when their annotator is excluded
 * (`excluded_annotator`: the verdict counts for nothing, so a record only such verdicts made is never
 * built), when their interaction is missing or expired (`interaction_missing`) or was truncated to bound
 * its size (`truncated`: a cut text must not be trained on), and when the answer or the prompt is empty
 * (`empty_text`). A held-out line that the suite parser refuses is skipped `holdout_invalid`.
 *
 * **Ids** are stable: `pair-`, `kto-` or `golden-` and the SHA-256 of the record's kind, its prompt's
 * hash and the identities of its texts (the SHA-256 of each normalized text: a model's answer, pooled,
 * or a person's written one). The same feedback makes the same id in every run, so the export can ask
 * which ids it already wrote and never write a record twice. Texts are written normalized (as DataPrep
 * would make them), and every list comes out sorted by id: the same verdicts make the same bytes.
 */

/** Opposite-rating pairs one prompt makes at most (the first by id). */
export const MAX_OPPOSITE_PAIRS_PER_PROMPT = 16;

/** Why a verdict, an answer or a candidate record made nothing. */
export type SkipReason =
  | 'excluded_annotator'
  | 'interaction_missing'
  | 'truncated'
  | 'empty_text'
  | 'neutral'
  | 'disagreement'
  | 'same_answer'
  | 'prompt_cap'
  | 'holdout_invalid';

/** Flat provenance of a held-out line. */
export type HeldOutMetadata = Record<string, string | number | boolean | null>;

/**
 * A held-out feedback prompt as a line of an evaluation suite in the project's format (what
 * `parseSuiteItem` takes): the conversation (the system prompt as a system turn), the chosen answer as
 * the reference when there is one, the tag `feedback`, and flat provenance.
 */
export interface HeldOutLine {
  readonly id: string;
  readonly messages: readonly EvalMessage[];
  readonly reference?: string;
  readonly tags: readonly string[];
  readonly metadata: HeldOutMetadata;
}

export interface FeedbackInput {
  /**
   * The verdicts: the pending ones and their siblings (every verdict on the same prompts). A verdict
   * given twice (an interaction and user) counts once, at its latest change.
   */
  readonly verdicts: readonly StoredFeedback[];
  /** Their interactions by id (missing and expired ones absent). */
  readonly interactions: ReadonlyMap<string, StoredInteraction>;
  /** Annotators whose verdicts count for nothing (their agreement with the reviewers is too low). */
  readonly excluded?: ReadonlySet<string>;
  /** Share of prompts held out of training, in [0, 1]. */
  readonly holdOutShare: number;
}

export interface FeedbackRecords {
  /** DPO pairs, sorted by id. */
  readonly pairs: readonly PreferencePair[];
  /** KTO records, sorted by id. */
  readonly unpaired: readonly UnpairedRecord[];
  /** Golden suite lines of held-out prompts, sorted by id. */
  readonly heldOut: readonly HeldOutLine[];
  /** What made nothing, by reason. */
  readonly skipped: Readonly<Partial<Record<SkipReason, number>>>;
  /** The verdicts considered (one per interaction and user, at its latest change), excluded ones included. */
  readonly verdicts: readonly StoredFeedback[];
}

const ROLE_MARKERS = { system: 'System', user: 'User', assistant: 'Assistant' } as const;

/**
 * The prompt text of a preference record, from an interaction's rendered system prompt and messages:
 *
 * - one user turn and no system prompt: the turn's content, as it is;
 * - anything else: a plain transcript, one block per turn in order (the system prompt first), each block
 *   `<Role>: <content>` with the role `System`, `User` or `Assistant`, blocks separated by a blank line
 *   (`\n\n`). It ends with the last turn (the user's): no cue for the answer follows, as in the first form.
 *
 * An empty system prompt counts as none. Pure and deterministic: the same interaction renders the same
 * text, and two interactions with the same `promptHash` render the same text.
 */
export function renderPrompt(interaction: Pick<StoredInteraction, 'system' | 'messages'>): string {
  const system = interaction.system ?? '';
  const [only, ...rest] = interaction.messages;
  if (system === '' && only !== undefined && only.role === 'user' && rest.length === 0) return only.content;
  const blocks = system === '' ? [] : [`${ROLE_MARKERS.system}: ${system}`];
  for (const turn of interaction.messages) blocks.push(`${ROLE_MARKERS[turn.role]}: ${turn.content}`);
  return blocks.join('\n\n');
}

/** The conversation of a held-out line: the system prompt as a system turn, then the turns. */
export function conversationOf(interaction: Pick<StoredInteraction, 'system' | 'messages'>): EvalMessage[] {
  const system = interaction.system ?? '';
  return [
    ...(system === '' ? [] : [{ role: 'system' as const, content: system }]),
    ...interaction.messages.map(({ role, content }) => ({ role, content })),
  ];
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The identity of a text: the SHA-256 of its normalized form. */
export function textIdentity(text: string): string {
  return sha256(normalizeText(text));
}

/** A stable record id: the prefix and the SHA-256 of the parts (kind, prompt hash, text identities). */
export function recordId(prefix: 'pair' | 'kto' | 'golden', parts: readonly string[]): string {
  return `${prefix}-${sha256(parts.join('\n'))}`;
}

type Polarity = 'positive' | 'negative';

/** One answer to a prompt: every usable interaction that gave this text, and the votes on it. */
interface Answer {
  /** The normalized answer. */
  readonly text: string;
  readonly identity: string;
  /** Usable interactions that gave it, by id. */
  readonly interactions: Map<string, StoredInteraction>;
  /** Each annotator's latest verdict on it. */
  readonly votes: Map<string, StoredFeedback>;
  /** Written answers (corrections, preferred answers) against it, by kind and identity. */
  readonly written: Map<string, Written>;
}

interface Written {
  readonly kind: 'correction' | 'preferred_answer';
  readonly text: string;
  readonly identity: string;
  readonly users: Set<string>;
}

interface Verdict {
  readonly answer: Answer;
  readonly polarity: Polarity | 'tie' | 'neutral';
  /** Annotators whose vote is the answer's polarity. */
  readonly majority: readonly string[];
}

type Skip = (reason: SkipReason, count?: number) => void;

const sortedById = <T extends { readonly id: string }>(items: T[]): T[] =>
  items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

const byKey = <T>(map: ReadonlyMap<string, T>): T[] =>
  [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, value]) => value);

/**
 * The verdicts, one per interaction and user, each at its latest change (the pending listing and the
 * siblings can return one verdict at two versions). Two versions with the same `updatedAt` are told
 * apart by their content, so that the order they come in never matters.
 */
export function latestVerdicts(verdicts: readonly StoredFeedback[]): StoredFeedback[] {
  const latest = new Map<string, StoredFeedback>();
  for (const verdict of verdicts) {
    const key = `${verdict.interactionId}\u0000${verdict.user}`;
    const seen = latest.get(key);
    if (
      seen === undefined ||
      verdict.updatedAt > seen.updatedAt ||
      (verdict.updatedAt === seen.updatedAt &&
        seen !== verdict &&
        canonicalJson(verdict) > canonicalJson(seen))
    ) {
      latest.set(key, verdict);
    }
  }
  return byKey(latest);
}

/** Builds the records the verdicts make (see the module's comment for the rules). */
export function buildFeedbackRecords(input: FeedbackInput): FeedbackRecords {
  const excluded = input.excluded ?? new Set<string>();
  const skipped: Partial<Record<SkipReason, number>> = {};
  const skip: Skip = (reason, count = 1) => {
    if (count > 0) skipped[reason] = (skipped[reason] ?? 0) + count;
  };
  const verdicts = latestVerdicts(input.verdicts);
  const prompts = new Map<string, StoredFeedback[]>();
  for (const verdict of verdicts) {
    const group = prompts.get(verdict.promptHash);
    if (group === undefined) prompts.set(verdict.promptHash, [verdict]);
    else group.push(verdict);
  }
  const pairs: PreferencePair[] = [];
  const unpaired: UnpairedRecord[] = [];
  const heldOut: HeldOutLine[] = [];
  for (const [promptHash, group] of [...prompts.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const answers = answersOf(group, input.interactions, excluded, skip);
    if (answers.size === 0) continue;
    const representative = firstInteraction(answers);
    const prompt = normalizeText(renderPrompt(representative));
    if (prompt === '') {
      skip('empty_text');
      continue;
    }
    const held = isHeldOut(promptHash, input.holdOutShare);
    // A held-out prompt's candidates only lend it a reference: their skips are not the export's.
    const made = recordsOf(promptHash, prompt, answers, held ? () => {} : skip);
    if (!held) {
      pairs.push(...made.pairs);
      unpaired.push(...made.unpaired);
      continue;
    }
    const line = heldOutLine(promptHash, representative, answers, made.pairs);
    if (line === undefined) skip('holdout_invalid');
    else heldOut.push(line);
  }
  return {
    pairs: sortedById(pairs),
    unpaired: sortedById(unpaired),
    heldOut: sortedById(heldOut),
    skipped,
    verdicts,
  };
}

/** The usable verdicts of one prompt, pooled by answer text. */
function answersOf(
  group: readonly StoredFeedback[],
  interactions: ReadonlyMap<string, StoredInteraction>,
  excluded: ReadonlySet<string>,
  skip: Skip,
): Map<string, Answer> {
  const answers = new Map<string, Answer>();
  for (const verdict of group) {
    if (excluded.has(verdict.user)) {
      skip('excluded_annotator');
      continue;
    }
    const interaction = interactions.get(verdict.interactionId);
    if (interaction === undefined) {
      skip('interaction_missing');
      continue;
    }
    if (interaction.truncated) {
      skip('truncated');
      continue;
    }
    const text = normalizeText(interaction.answer);
    if (text === '') {
      skip('empty_text');
      continue;
    }
    const identity = sha256(text);
    let answer = answers.get(identity);
    if (answer === undefined) {
      answer = { text, identity, interactions: new Map(), votes: new Map(), written: new Map() };
      answers.set(identity, answer);
    }
    answer.interactions.set(interaction.interactionId, interaction);
    const earlier = answer.votes.get(verdict.user);
    if (earlier === undefined || later(verdict, earlier)) answer.votes.set(verdict.user, verdict);
    for (const [kind, given] of [
      ['correction', verdict.correction],
      ['preferred_answer', verdict.preferredAnswer],
    ] as const) {
      if (given === undefined) continue;
      const written = normalizeText(given);
      if (written === '') {
        skip('empty_text');
        continue;
      }
      const writtenIdentity = sha256(written);
      const key = `${kind}\u0000${writtenIdentity}`;
      const entry = answer.written.get(key);
      if (entry === undefined) {
        answer.written.set(key, {
          kind,
          text: written,
          identity: writtenIdentity,
          users: new Set([verdict.user]),
        });
      } else entry.users.add(verdict.user);
    }
  }
  return answers;
}

/** Whether `a` is a later change than `b` (ties broken by interaction id, so any input order agrees). */
function later(a: StoredFeedback, b: StoredFeedback): boolean {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt > b.updatedAt;
  return a.interactionId > b.interactionId;
}

/** The interaction with the lowest id among the answers': the one a prompt is rendered from. */
function firstInteraction(answers: ReadonlyMap<string, Answer>): StoredInteraction {
  let first: StoredInteraction | undefined;
  for (const answer of answers.values()) {
    const candidate = representativeOf(answer);
    if (first === undefined || candidate.interactionId < first.interactionId) first = candidate;
  }
  return first as StoredInteraction;
}

/** The answer's interaction with the lowest id: the one its provenance names. */
function representativeOf(answer: Answer): StoredInteraction {
  const ids = [...answer.interactions.keys()].sort();
  return answer.interactions.get(ids[0] as string) as StoredInteraction;
}

function verdictOf(answer: Answer): Verdict {
  const positive: string[] = [];
  const negative: string[] = [];
  for (const [user, vote] of byKeyEntries(answer.votes)) {
    const polarity = ratingPolarity(vote.rating);
    if (polarity === 'positive') positive.push(user);
    else if (polarity === 'negative') negative.push(user);
  }
  if (positive.length > negative.length) return { answer, polarity: 'positive', majority: positive };
  if (negative.length > positive.length) return { answer, polarity: 'negative', majority: negative };
  return { answer, polarity: positive.length === 0 ? 'neutral' : 'tie', majority: [] };
}

function byKeyEntries<T>(map: ReadonlyMap<string, T>): [string, T][] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function provenance(interaction: StoredInteraction) {
  return {
    promptName: interaction.prompt?.name ?? null,
    promptVersion: interaction.prompt?.version ?? null,
    model: interaction.model.id,
  };
}

/**
 * The annotators of a record, as pseudonyms: user ids may be e-mail addresses, and DataPrep does not
 * redact metadata, so training data names no person; the same user always has the same pseudonym, which
 * an operator can match against the feedback table ({@link annotatorPseudonym}).
 */
const annotatorList = (users: Iterable<string>): string =>
  [...new Set([...users].map(annotatorPseudonym))].sort().join(',');

/** `annotator-` and the first 12 hex digits of the SHA-256 of the user id. */
export function annotatorPseudonym(user: string): string {
  return `annotator-${createHash('sha256').update(user).digest('hex').slice(0, 12)}`;
}

/** The pairs and unpaired records of one prompt that is not held out. */
function recordsOf(
  promptHash: string,
  prompt: string,
  answers: ReadonlyMap<string, Answer>,
  skip: Skip,
): { pairs: PreferencePair[]; unpaired: UnpairedRecord[] } {
  const pairs: PreferencePair[] = [];
  const paired = new Set<string>();
  const verdicts = byKey(answers).map(verdictOf);

  for (const { answer } of verdicts) {
    const rejected = representativeOf(answer);
    for (const written of byKey(answer.written)) {
      if (written.text === answer.text) {
        skip('same_answer');
        continue;
      }
      paired.add(answer.identity);
      pairs.push({
        id: recordId('pair', [written.kind, promptHash, answer.identity, written.identity]),
        prompt,
        chosen: written.text,
        rejected: answer.text,
        metadata: metadataOf(written.kind, promptHash, rejected, null, written.users),
      });
    }
  }

  const opposite: PreferencePair[] = [];
  const sides = new Map<string, [string, string]>();
  for (const good of verdicts.filter((v) => v.polarity === 'positive')) {
    for (const bad of verdicts.filter((v) => v.polarity === 'negative')) {
      const id = recordId('pair', [
        'opposite_ratings',
        promptHash,
        bad.answer.identity,
        good.answer.identity,
      ]);
      sides.set(id, [good.answer.identity, bad.answer.identity]);
      opposite.push({
        id,
        prompt,
        chosen: good.answer.text,
        rejected: bad.answer.text,
        metadata: metadataOf(
          'opposite_ratings',
          promptHash,
          representativeOf(bad.answer),
          representativeOf(good.answer),
          [...good.majority, ...bad.majority],
        ),
      });
    }
  }
  sortedById(opposite);
  skip('prompt_cap', opposite.length - MAX_OPPOSITE_PAIRS_PER_PROMPT);
  for (const pair of opposite.slice(0, MAX_OPPOSITE_PAIRS_PER_PROMPT)) {
    for (const identity of sides.get(pair.id) ?? []) paired.add(identity);
    pairs.push(pair);
  }

  const unpaired: UnpairedRecord[] = [];
  for (const verdict of verdicts) {
    if (paired.has(verdict.answer.identity)) continue;
    if (verdict.polarity === 'tie' || verdict.polarity === 'neutral') {
      skip(verdict.polarity === 'tie' ? 'disagreement' : 'neutral');
      continue;
    }
    const label = verdict.polarity === 'positive';
    const interaction = representativeOf(verdict.answer);
    unpaired.push({
      id: recordId('kto', ['rating', promptHash, verdict.answer.identity, String(label)]),
      prompt,
      completion: verdict.answer.text,
      label,
      metadata: {
        source: 'feedback',
        kind: 'rating',
        interaction: interaction.interactionId,
        ...provenance(interaction),
        annotators: annotatorList(verdict.majority),
        promptHash,
      },
    });
  }
  return { pairs, unpaired };
}

function metadataOf(
  kind: string,
  promptHash: string,
  rejected: StoredInteraction,
  chosen: StoredInteraction | null,
  annotators: Iterable<string>,
): PreferenceMetadata {
  return {
    source: 'feedback',
    kind,
    rejectedInteraction: rejected.interactionId,
    chosenInteraction: chosen?.interactionId ?? null,
    ...provenance(rejected),
    annotators: annotatorList(annotators),
    promptHash,
  };
}

/**
 * The golden line of a held-out prompt, or undefined when the suite parser would refuse it (too many
 * turns, a text over its limit). The reference is the chosen answer of the prompt's first pair (by id)
 * that fits a suite reference; the id covers the reference, so a prompt that later gains a better one
 * is written again (into a later version of the hold-out suite).
 */
function heldOutLine(
  promptHash: string,
  interaction: StoredInteraction,
  answers: ReadonlyMap<string, Answer>,
  pairs: readonly PreferencePair[],
): HeldOutLine | undefined {
  const reference = sortedById([...pairs]).find(
    (pair) => pair.chosen.length <= SUITE_LINE_LIMITS.maxReferenceChars,
  )?.chosen;
  const annotators = new Set<string>();
  let interactions = 0;
  for (const answer of answers.values()) {
    for (const user of answer.votes.keys()) annotators.add(user);
    interactions += answer.interactions.size;
  }
  const line: HeldOutLine = {
    id: recordId('golden', ['holdout', promptHash, reference === undefined ? '' : sha256(reference)]),
    messages: conversationOf(interaction),
    ...(reference === undefined ? {} : { reference }),
    tags: ['feedback'],
    metadata: {
      source: 'feedback',
      kind: 'holdout',
      interaction: interaction.interactionId,
      interactions,
      app: interaction.app,
      ...provenance(interaction),
      annotators: annotatorList(annotators),
      promptHash,
    },
  };
  return 'reason' in parseSuiteItem(line) ? undefined : line;
}
