import { type AppAccess, DENY_ALL } from '#contracts/http/access.ts';
import type { ApiCaller } from '#contracts/http/caller.ts';
import { ForbiddenError } from '../errors.ts';
import { compileGlob, type Glob, isMatchAll, matchesAny } from './glob.ts';

/**
 * What one caller may use, decided without I/O: an app's {@link AppAccess} (its allowlists of prompts,
 * models and RAG collections, raw chat, its daily token budget), or no restriction at all for an
 * administrator (an IAM principal). Refusals are `ForbiddenError`s (403) whose message names the app,
 * what it asked for and the rule, e.g. `app "mobile" may not use prompt "billing-summary" (allowed:
 * support-*)`. Patterns match as in `glob.ts` (linear time, whatever the names hold).
 */

/** One sentence per rule, for documentation (the OpenAPI document's descriptions). */
export interface AccessDescription {
  /** Who the rules are for: the app, or an administrator. */
  readonly caller: string;
  readonly prompts: string;
  readonly models: string;
  readonly collections: string;
  readonly rawChat: string;
  readonly tokensPerDay: string;
}

/** Patterns shown in a refusal before the rest are counted. */
const SHOWN_PATTERNS = 10;

/** A rule's patterns as a message shows them: `support-*, faq`, `none`, or the first few and a count. */
function allowedList(patterns: readonly string[]): string {
  if (patterns.length === 0) return 'none';
  const shown = patterns.slice(0, SHOWN_PATTERNS).join(', ');
  return patterns.length > SHOWN_PATTERNS ? `${shown} and ${patterns.length - SHOWN_PATTERNS} more` : shown;
}

/** One allowlist, compiled once. */
class Allowlist {
  readonly all: boolean;
  readonly #globs: readonly Glob[];
  constructor(readonly patterns: readonly string[]) {
    this.all = patterns.some(isMatchAll);
    this.#globs = this.all ? [] : patterns.map(compileGlob);
  }
  allows(name: string): boolean {
    return this.all || matchesAny(this.#globs, name);
  }
  /** How the rule reads in documentation. */
  get summary(): string {
    return this.all ? 'all' : this.patterns.length === 0 ? 'none' : this.patterns.join(', ');
  }
}

const EVERYTHING: AppAccess = {
  prompts: ['*'],
  models: ['*'],
  collections: ['*'],
  rawChat: true,
  tokensPerDay: null,
};

export class AccessPolicy {
  /** The app the rules are for; `null` for an administrator. */
  readonly app: string | null;
  readonly #prompts: Allowlist;
  readonly #models: Allowlist;
  readonly #collections: Allowlist;
  readonly #rawChat: boolean;
  readonly #tokensPerDay: number | null;
  /** `undefined`: any tenant. */
  readonly #tenants: Allowlist | undefined;

  private constructor(app: string | null, access: AppAccess) {
    this.app = app;
    this.#prompts = new Allowlist(access.prompts);
    this.#models = new Allowlist(access.models);
    this.#collections = new Allowlist(access.collections);
    this.#rawChat = access.rawChat;
    this.#tokensPerDay = access.tokensPerDay;
    this.#tenants = access.tenants === undefined ? undefined : new Allowlist(access.tenants);
  }

  /** An administrator's policy (an IAM principal): everything allowed, no token budget. */
  static unrestricted(): AccessPolicy {
    return new AccessPolicy(null, EVERYTHING);
  }

  /** An app's policy; an app without access (`undefined`: not configured) may use nothing. */
  static forApp(app: string, access: AppAccess | undefined): AccessPolicy {
    return new AccessPolicy(app, access ?? DENY_ALL);
  }

  /** The policy of an API caller: unrestricted when its `access` is `null` (an IAM principal). */
  static forCaller(caller: Pick<ApiCaller, 'app' | 'access'>): AccessPolicy {
    return caller.access === null
      ? AccessPolicy.unrestricted()
      : AccessPolicy.forApp(caller.app, caller.access);
  }

  /** Whether no rule restricts this caller (an administrator). */
  get isUnrestricted(): boolean {
    return this.app === null;
  }

  /** Tokens per UTC day the caller may spend on chat; `null`: no limit. */
  get tokensPerDay(): number | null {
    return this.#tokensPerDay;
  }

  /** @throws ForbiddenError when the app names a tenant (`x-tenant-id`) outside its `tenants`. */
  assertTenant(tenant: string | null): void {
    if (tenant === null || this.#tenants === undefined || this.#tenants.allows(tenant)) return;
    this.#refuse(`act for tenant ${JSON.stringify(tenant)}`, this.#tenants);
  }

  allowsPrompt(name: string): boolean {
    return this.#prompts.allows(name);
  }

  /** @throws ForbiddenError when the prompt is outside the app's `prompts`. */
  assertPrompt(name: string): void {
    if (!this.allowsPrompt(name)) this.#refuse(`use prompt ${JSON.stringify(name)}`, this.#prompts);
  }

  allowsModel(id: string): boolean {
    return this.#models.allows(id);
  }

  /** @throws ForbiddenError when the catalog model is outside the app's `models`. */
  assertModel(id: string): void {
    if (!this.allowsModel(id)) this.#refuse(`use model ${JSON.stringify(id)}`, this.#models);
  }

  /** The models of the list the caller may use, in their order (e.g. before choosing one automatically). */
  filterModels<M extends { readonly id: string }>(models: readonly M[]): M[] {
    return models.filter((model) => this.allowsModel(model.id));
  }

  /**
   * {@link filterModels} for a choice among candidates: the allowed ones, or a refusal when there were
   * candidates but the app may use none of them (an empty list stays empty: "no model fits" is not a
   * matter of access).
   * @throws ForbiddenError naming the candidates' count and the rule.
   */
  selectableModels<M extends { readonly id: string }>(models: readonly M[]): M[] {
    const allowed = this.filterModels(models);
    if (allowed.length === 0 && models.length > 0) {
      this.#refuse(`use any of the ${models.length} candidate model(s)`, this.#models);
    }
    return allowed;
  }

  /**
   * The collection patterns a retrieval must stay within: `undefined` when every collection is allowed,
   * else the app's `collections` patterns (possibly none).
   */
  collectionsFilter(): readonly string[] | undefined {
    return this.#collections.all ? undefined : [...this.#collections.patterns];
  }

  allowsCollection(collection: string): boolean {
    return this.#collections.allows(collection);
  }

  /** @throws ForbiddenError when the RAG collection is outside the app's `collections`. */
  assertCollection(collection: string): void {
    if (!this.allowsCollection(collection)) {
      this.#refuse(`search collection ${JSON.stringify(collection)}`, this.#collections);
    }
  }

  /** @throws ForbiddenError when the app may search no RAG collection at all. */
  assertAnyCollection(): void {
    if (this.#collections.patterns.length === 0) this.#refuse('search any RAG collection', this.#collections);
  }

  /**
   * The collections a retrieval with these filters may search (`undefined`: all), after refusing an app
   * that may search none, or a `collection` filter that names a collection outside its allowlist.
   * @throws ForbiddenError naming the app and the rule.
   */
  retrievalCollections(
    filters: Readonly<Record<string, unknown>> | undefined,
  ): readonly string[] | undefined {
    this.assertAnyCollection();
    const named = filters?.collection;
    if (named !== undefined) {
      for (const collection of Array.isArray(named) ? named : [named])
        this.assertCollection(String(collection));
    }
    return this.collectionsFilter();
  }

  allowsRawChat(): boolean {
    return this.#rawChat;
  }

  /** @throws ForbiddenError when the app may not chat without a prompt reference. */
  assertRawChat(): void {
    if (!this.#rawChat) {
      throw new ForbiddenError(
        `app ${JSON.stringify(this.app)} may not chat without a prompt (rawChat is off): name one of its prompts (allowed: ${allowedList(this.#prompts.patterns)})`,
      );
    }
  }

  /** One sentence per rule, for documentation. */
  describe(): AccessDescription {
    const budget = this.#tokensPerDay;
    return {
      caller: this.isUnrestricted
        ? 'The caller is an administrator (signed with IAM): no per-app restriction applies.'
        : `The caller is app ${JSON.stringify(this.app)} (its API key); it may use only what follows ("*" in a name matches any run of characters).`,
      prompts: `Prompts: ${this.#prompts.summary}.`,
      models: `Models: ${this.#models.summary}.`,
      collections: `RAG collections: ${this.#collections.summary}.`,
      rawChat: `Chat without a prompt (its own system prompt and messages): ${this.#rawChat ? 'allowed' : 'not allowed'}.`,
      tokensPerDay:
        budget === null
          ? 'Token budget: unlimited.'
          : `Token budget: ${budget.toLocaleString('en-US')} tokens (input and output) per UTC day, then 429 token_budget_exceeded until midnight UTC.`,
    };
  }

  #refuse(what: string, rule: Allowlist): never {
    throw new ForbiddenError(
      `app ${JSON.stringify(this.app)} may not ${what} (allowed: ${allowedList(rule.patterns)})`,
    );
  }
}
