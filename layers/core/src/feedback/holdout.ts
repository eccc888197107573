import { createHash } from 'node:crypto';

/**
 * Which feedback prompts are held out of training, for the win-rate report: a prompt (its rendered
 * input's `promptHash`) is held out when a point derived from its hash falls below the share. The point
 * is a SHA-256 of a salted hash, so the choice is the same in every run and every export (a prompt held
 * out once is held out for good, whatever feedback it gets later), and independent of DataPrep's
 * train/validation split, which hashes records its own way.
 */

const SALT = 'feedback-holdout';

/** The prompt's point in [0, 1): the first 32 bits of SHA-256(`feedback-holdout\n<promptHash>`). */
export function holdOutPoint(promptHash: string): number {
  const digest = createHash('sha256').update(`${SALT}\n${promptHash}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** Whether the prompt is held out of training at this share (0: none, 0.5: about half). */
export function isHeldOut(promptHash: string, share: number): boolean {
  return share > 0 && holdOutPoint(promptHash) < share;
}
