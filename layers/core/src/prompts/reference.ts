import { LABEL_NAME, PROMPT_NAME, type PromptRef } from '#contracts/prompts/types.ts';
import { ValidationError } from '../errors.ts';

/** The label a bare prompt name resolves to. */
export const DEFAULT_LABEL = 'production';

const VERSION = /^[1-9][0-9]{0,8}$/;
const SYNTAX = 'must be "name", "name@label" or "name:version"';

/**
 * Parses a prompt reference: `name` (its `production` label), `name@label` or `name:version`.
 * @throws ValidationError (field `prompt`) naming the part that is wrong.
 */
export function parsePromptRef(ref: string, field = 'prompt'): PromptRef {
  const at = ref.indexOf('@');
  const colon = ref.indexOf(':');
  if (at !== -1 && colon !== -1)
    throw new ValidationError(field, `${SYNTAX}, not both a label and a version`);
  const cut = at !== -1 ? at : colon;
  const name = cut === -1 ? ref : ref.slice(0, cut);
  if (!PROMPT_NAME.test(name)) {
    throw new ValidationError(
      field,
      `${SYNTAX}, where name matches ^[a-z0-9][a-z0-9_-]{0,63}$ (got "${truncate(name)}")`,
    );
  }
  if (cut === -1) return { name, label: DEFAULT_LABEL };
  const rest = ref.slice(cut + 1);
  if (at !== -1) {
    if (!LABEL_NAME.test(rest)) {
      throw new ValidationError(
        field,
        `${SYNTAX}, where label matches ^[a-z][a-z0-9_-]{0,31}$ (got "${truncate(rest)}")`,
      );
    }
    return { name, label: rest };
  }
  if (!VERSION.test(rest)) {
    throw new ValidationError(
      field,
      `${SYNTAX}, where version is a whole number from 1 to 999999999 (got "${truncate(rest)}")`,
    );
  }
  return { name, version: Number(rest) };
}

/** The text form of a reference, the inverse of {@link parsePromptRef}. */
export function formatPromptRef(ref: PromptRef): string {
  return 'version' in ref ? `${ref.name}:${ref.version}` : `${ref.name}@${ref.label}`;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
