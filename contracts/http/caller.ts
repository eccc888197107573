import type { AppAccess } from './access.ts';

/** Who is calling: the app behind the API key, the tenant it names, and for admin routes the IAM principal. */
export interface ApiCaller {
  readonly app: string;
  readonly tenant: string | null;
  readonly apiKeyId: string | null;
  /** IAM principal ARN on admin (SigV4) routes. */
  readonly principal: string | null;
  /** What is recorded as the author of a write: the principal, else `app:<name>`. */
  readonly author: string;
  /**
   * What the caller may use: its app's access (an app that is not configured gets nothing), or `null`
   * for an administrator (an IAM principal), whom no per-app rule restricts.
   */
  readonly access: AppAccess | null;
}
