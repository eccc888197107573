import type { CalibrationLabel } from '#contracts/evaluation/review.ts';

/**
 * Whose feedback the export trusts. Negative feedback with a comment becomes a review task whose rubric
 * names the annotator (`annotatorRubric(user)`); a reviewer's label of it is a calibration pair of that
 * rubric: the annotator's verdict (`judgeVerdict`) beside the reviewer's (`humanVerdict`). An
 * annotator's agreement is the share of those pairs where the two agree.
 *
 * An annotator is left out only on evidence: with at least `minReviewed` reviewed verdicts and an
 * agreement below `minAgreement`. Someone reviewed less (most users: their feedback is rarely negative
 * with a comment, or the reviewers have not got to it) is trusted, so that a few unlucky labels cannot
 * silence a new user, and so that the export does not wait on the review queue.
 */

/** The agreement rule (`feedback.annotatorAgreement` of the profile). */
export interface AgreementRule {
  /** Agreement below which a reviewed annotator is left out, in [0, 1]. */
  readonly minAgreement: number;
  /** Reviewed verdicts an annotator needs before the agreement can leave them out. */
  readonly minReviewed: number;
}

/** An annotator's record with the reviewers. */
export interface AnnotatorStanding {
  readonly user: string;
  /** Share of the reviewed verdicts the reviewers agreed with; 1 when none was reviewed. */
  readonly agreement: number;
  /** Calibration pairs (reviewed verdicts) of the annotator. */
  readonly reviewed: number;
}

/** The annotators of a run, split by the rule. */
export interface AnnotatorSplit {
  /** Trusted annotators, sorted. */
  readonly included: readonly string[];
  /** Annotators left out, with the numbers that left them out, sorted by user. */
  readonly excluded: readonly AnnotatorStanding[];
}

/** One annotator's agreement with the reviewers, from the calibration pairs of their rubric. */
export function annotatorStanding(user: string, labels: readonly CalibrationLabel[]): AnnotatorStanding {
  const reviewed = labels.length;
  const agreed = labels.filter((label) => label.humanVerdict === label.judgeVerdict).length;
  return { user, agreement: reviewed === 0 ? 1 : agreed / reviewed, reviewed };
}

/** Whether the rule leaves an annotator out: reviewed enough, and agreed with too rarely. */
export function isExcluded(standing: AnnotatorStanding, rule: AgreementRule): boolean {
  return standing.reviewed >= rule.minReviewed && standing.agreement < rule.minAgreement;
}

/**
 * Splits annotators into trusted and left out, given each one's calibration pairs (an annotator absent
 * from `labels`, or with none, was never reviewed, and is trusted).
 */
export function splitAnnotators(
  users: Iterable<string>,
  labels: ReadonlyMap<string, readonly CalibrationLabel[]>,
  rule: AgreementRule,
): AnnotatorSplit {
  const included: string[] = [];
  const excluded: AnnotatorStanding[] = [];
  for (const user of [...new Set(users)].sort()) {
    const standing = annotatorStanding(user, labels.get(user) ?? []);
    if (isExcluded(standing, rule)) excluded.push(standing);
    else included.push(user);
  }
  return { included, excluded };
}
