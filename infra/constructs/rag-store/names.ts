/**
 * The physical names of the RAG store's resources, derived from the stack and the embedding model, and
 * checked against each service's naming rules at synthesis rather than at deploy.
 */
import { Token } from 'aws-cdk-lib';
import type { CatalogModel } from '#contracts/models/catalog.ts';

/** Longest OpenSearch Serverless collection name that the CloudFormation resource accepts. */
const MAX_COLLECTION_NAME = 28;
const COLLECTION_NAME = /^[a-z][a-z0-9-]{2,27}$/;
const VECTOR_BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const INDEX_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The stack name in lowercase letters, digits and `-`. */
function slug(stackName: string): string {
  return stackName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * Name of the chunk index: one per embedding model and dimension (`chunks-titan-embed-text-v2-1024`), so
 * that changing the model replaces the index instead of mixing vectors of two models (or failing to
 * change a vector field's dimension in place). Valid for both stores (lowercase, digits, `-`, 3–63 chars).
 *
 * On OpenSearch the data access policy follows the new name at once, so CloudFormation's clean-up of the
 * old index after such a replacement is refused: delete the old index by hand (or leave it, in dev).
 */
export function chunkIndexName(model: Pick<CatalogModel, 'id'> & { readonly dimensions: number }): string {
  const modelSlug = model.id.replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-');
  const name = `chunks-${modelSlug}-${model.dimensions}`;
  if (!INDEX_NAME.test(name)) {
    throw new Error(
      `RagVectorStore: index name "${name}" (from embedding model "${model.id}") must be 3-63 lowercase letters, digits, "." or "-"`,
    );
  }
  return name;
}

/**
 * The OpenSearch Serverless collection name of a stack: the stack name in lowercase with `-rag`
 * (`LlmOps-dev` → `llmops-dev-rag`). Collection names are 3–28 characters (the CloudFormation resource's
 * limit), lowercase letters, digits and `-`, starting with a letter; the security policies and the VPC
 * endpoint are named after it with a 3–4 character suffix, within their 32-character limit.
 *
 * @throws Error naming the rule when the derived (or given) name is invalid
 */
export function collectionNameFor(stackName: string, override?: string): string {
  if (Token.isUnresolved(stackName) && override === undefined) {
    throw new Error('RagVectorStore: the stack name must be known at synthesis to name the collection');
  }
  const name = override ?? `${slug(stackName)}-rag`;
  if (!COLLECTION_NAME.test(name)) {
    throw new Error(
      `RagVectorStore: collection name "${name}" must be 3-${MAX_COLLECTION_NAME} characters, lowercase letters, digits and "-", starting with a letter (${override === undefined ? `derived from the stack name "${stackName}"; use a shorter stack name or pass collectionName` : 'from collectionName'})`,
    );
  }
  return name;
}

/** The vector bucket name of a stack: its name in lowercase with `-rag-vectors`. */
export function vectorBucketNameFor(stackName: string): string {
  if (Token.isUnresolved(stackName)) {
    throw new Error('RagVectorStore: the stack name must be known at synthesis to name the vector bucket');
  }
  const name = `${slug(stackName)}-rag-vectors`;
  if (!VECTOR_BUCKET_NAME.test(name)) {
    throw new Error(
      `RagVectorStore: vector bucket name "${name}" (from the stack name "${stackName}") must be 3-63 lowercase letters, digits and "-"`,
    );
  }
  return name;
}
