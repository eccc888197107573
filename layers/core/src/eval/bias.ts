/**
 * Bias probes: the same question asked about different people or groups, compared.
 *
 * A probe is an item with `counterfactuals` (one conversation per group), or with a `{{group}}` slot
 * in its messages and the groups in `metadata.groups`. {@link expandProbe} turns it into one item per
 * group (a variant); each variant is answered and scored like any item. {@link biasGaps} then compares
 * the variants of each probe on each dimension that was observed: a metric's value, whether the answer
 * refused (1) or not (0), and the judged sentiment. A probe's gap is its largest difference between two
 * groups (max − min); overall, the mean of the probes' gaps with a bootstrap confidence interval over
 * probes, the worst probe, and each group's mean across the probes it appears in.
 *
 * A gap is never negative, so noise alone gives a positive mean gap: read it against the spread of
 * repeated answers to one variant (or a probe whose groups are all the same), not against 0.
 */
import { ValidationError } from '../errors.ts';
import { type BootstrapOptions, bootstrapMean } from './stats.ts';
import type { Estimate, EvalItem, EvalMessage } from './types.ts';

/** The slot a probe's messages name the group with (spaces allowed inside the braces). */
const GROUP_SLOT = /\{\{\s*group\s*\}\}/g;
const NOT_SLUG = /[^a-z0-9]+/g;
/** The tag every variant carries. */
export const VARIANT_TAG = 'bias-variant';

/** One group's version of a probe: an item to answer and score like any other. */
export interface BiasVariant {
  readonly probeId: string;
  readonly group: string;
  readonly item: EvalItem;
}

/** Whether an item is a bias probe: it has counterfactuals, or `metadata.groups` (for its slot). */
export function isBiasProbe(item: EvalItem): boolean {
  return (
    (item.counterfactuals !== undefined && item.counterfactuals.length > 0) ||
    item.metadata?.groups !== undefined
  );
}

function fill(text: string, group: string): string {
  return text.replace(GROUP_SLOT, () => group);
}

function slug(group: string): string {
  return group.normalize('NFKC').toLowerCase().replace(NOT_SLUG, '-').replace(/^-|-$/g, '');
}

/** The groups of a slot probe, checked: non-empty strings, and a slot for them to fill. */
function groupsOf(item: EvalItem): string[] {
  const groups = item.metadata?.groups;
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || g.trim() === '')) {
    throw new ValidationError(`${item.id}.metadata.groups`, 'must be a list of non-empty strings');
  }
  if (!item.messages.some((m) => m.content.search(GROUP_SLOT) !== -1)) {
    throw new ValidationError(
      `${item.id}.messages`,
      'must hold a {{group}} slot for metadata.groups to fill',
    );
  }
  return groups as string[];
}

/**
 * The variants of a probe, one per group, in the probe's order; none for an item that is not a probe.
 * Each variant's id is `<probe id>@<group slug>`; its metadata names the probe and the group, and it
 * has no counterfactuals of its own. With a slot, the group fills it in the messages and references.
 * @throws ValidationError for groups without a slot, fewer than two groups, a repeated group, or groups
 *   whose ids would collide.
 */
export function expandProbe(item: EvalItem): BiasVariant[] {
  if (!isBiasProbe(item)) return [];
  const { counterfactuals: _, ...rest } = item;
  const variants: { group: string; messages: readonly EvalMessage[]; references: readonly string[] }[] =
    item.counterfactuals !== undefined && item.counterfactuals.length > 0
      ? item.counterfactuals.map((c) => ({
          group: c.group,
          messages: c.messages,
          references: item.references,
        }))
      : groupsOf(item).map((group) => ({
          group,
          messages: item.messages.map((m) => ({ role: m.role, content: fill(m.content, group) })),
          references: item.references.map((r) => fill(r, group)),
        }));
  if (variants.length < 2) throw new ValidationError(`${item.id}`, 'a bias probe needs at least two groups');
  const ids = new Map<string, string>();
  return variants.map(({ group, messages, references }) => {
    const id = `${item.id}@${slug(group) || 'group'}`;
    const clash = ids.get(id);
    if (clash !== undefined) {
      throw new ValidationError(
        `${item.id}`,
        clash === group
          ? `repeats the group "${group}"`
          : `groups "${clash}" and "${group}" have the same id`,
      );
    }
    ids.set(id, group);
    return {
      probeId: item.id,
      group,
      item: {
        ...rest,
        id,
        messages,
        references,
        tags: [...item.tags, VARIANT_TAG],
        metadata: { ...item.metadata, probe: item.id, group },
      },
    };
  });
}

/** The probe and group of a variant item, from its metadata; undefined for any other item. */
export function variantOf(item: EvalItem): { probeId: string; group: string } | undefined {
  const probe = item.metadata?.probe;
  const group = item.metadata?.group;
  return typeof probe === 'string' && typeof group === 'string' ? { probeId: probe, group } : undefined;
}

/** What was observed of one variant's answer. Several observations of one variant are averaged. */
export interface VariantScore {
  readonly probeId: string;
  readonly group: string;
  /** A metric's value for the answer; `null` when it could not be computed (left out, never 0). */
  readonly value?: number | null;
  /** The answer refused (or declined) to help. */
  readonly refused?: boolean;
  /** The judged sentiment of the answer in [0, 1] (0.5 neutral); `null` when it could not be judged. */
  readonly sentiment?: number | null;
}

export const BIAS_DIMENSIONS = ['value', 'refused', 'sentiment'] as const;
export type BiasDimension = (typeof BIAS_DIMENSIONS)[number];

/** One group's value on one probe. */
export interface GroupValue {
  readonly group: string;
  readonly value: number;
}

/** The largest difference between the groups of one probe. */
export interface ProbeGap {
  readonly probeId: string;
  /** max − min over the probe's groups. */
  readonly gap: number;
  readonly highest: GroupValue;
  readonly lowest: GroupValue;
  readonly byGroup: Readonly<Record<string, number>>;
  /** Groups of the probe without a value on this dimension (failed, or not observed). */
  readonly missing: readonly string[];
}

/** One dimension over all probes. */
export interface DimensionGaps {
  readonly dimension: BiasDimension;
  /** Mean over probes of each probe's gap, with its bootstrap interval over probes. */
  readonly meanGap: Estimate;
  /** The probe with the largest gap (the first, on a tie). */
  readonly worst?: ProbeGap;
  /**
   * Each group's mean over the compared probes it has a value in: comparable between groups only when
   * they appear in the same probes (the gaps of `probes` compare like with like).
   */
  readonly byGroup: Readonly<Record<string, Estimate>>;
  readonly probes: readonly ProbeGap[];
  /** Probes left out: fewer than two groups with a value. */
  readonly skipped: readonly string[];
}

export type BiasReport = Readonly<Partial<Record<BiasDimension, DimensionGaps>>>;

function valueOn(score: VariantScore, dimension: BiasDimension): number | null | undefined {
  switch (dimension) {
    case 'value':
      return score.value;
    case 'refused':
      return score.refused === undefined ? undefined : score.refused ? 1 : 0;
    case 'sentiment':
      return score.sentiment;
  }
}

/**
 * The gaps between the variants of each probe, on each dimension with at least one observation.
 * Values must be finite; `null` and absent values are left out, and a probe with fewer than two
 * groups left is skipped. The bootstrap (`stats.bootstrapMean`) is seeded, so a report is repeatable.
 */
export function biasGaps(scores: readonly VariantScore[], options: BootstrapOptions): BiasReport {
  const report: Partial<Record<BiasDimension, DimensionGaps>> = {};
  // Probe → group → seen (every variant, so that missing ones can be named), in first-seen order.
  const groups = new Map<string, Set<string>>();
  for (const score of scores) {
    const set = groups.get(score.probeId) ?? new Set<string>();
    set.add(score.group);
    groups.set(score.probeId, set);
  }
  for (const dimension of BIAS_DIMENSIONS) {
    // Probe → group → [sum, count].
    const sums = new Map<string, Map<string, [number, number]>>();
    let observed = false;
    scores.forEach((score, i) => {
      const value = valueOn(score, dimension);
      if (value === undefined || value === null) return;
      if (!Number.isFinite(value))
        throw new ValidationError(`scores.${i}.${dimension}`, 'must be a finite number');
      observed = true;
      const byGroup = sums.get(score.probeId) ?? new Map<string, [number, number]>();
      const sum = byGroup.get(score.group) ?? [0, 0];
      byGroup.set(score.group, [sum[0] + value, sum[1] + 1]);
      sums.set(score.probeId, byGroup);
    });
    if (!observed) continue;
    const probes: ProbeGap[] = [];
    const skipped: string[] = [];
    const perGroup = new Map<string, number[]>();
    for (const [probeId, all] of groups) {
      const byGroup: Record<string, number> = {};
      let highest: GroupValue | undefined;
      let lowest: GroupValue | undefined;
      for (const [group, [sum, count]] of sums.get(probeId) ?? []) {
        const value = sum / count;
        byGroup[group] = value;
        if (highest === undefined || value > highest.value) highest = { group, value };
        if (lowest === undefined || value < lowest.value) lowest = { group, value };
      }
      if (Object.keys(byGroup).length < 2 || highest === undefined || lowest === undefined) {
        skipped.push(probeId);
        continue;
      }
      for (const [group, value] of Object.entries(byGroup)) {
        const values = perGroup.get(group) ?? [];
        values.push(value);
        perGroup.set(group, values);
      }
      const missing = [...all].filter((g) => !Object.hasOwn(byGroup, g));
      probes.push({ probeId, gap: highest.value - lowest.value, highest, lowest, byGroup, missing });
    }
    const worst = probes.reduce<ProbeGap | undefined>(
      (w, p) => (w === undefined || p.gap > w.gap ? p : w),
      undefined,
    );
    report[dimension] = {
      dimension,
      meanGap: bootstrapMean(
        probes.map((p) => p.gap),
        options,
      ),
      ...(worst === undefined ? {} : { worst }),
      byGroup: Object.fromEntries(
        [...perGroup].map(([group, values]) => [group, bootstrapMean(values, options)]),
      ),
      probes,
      skipped,
    };
  }
  return report;
}
