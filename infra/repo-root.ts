import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root, without a trailing slash (this file is `infra/repo-root.ts`). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
