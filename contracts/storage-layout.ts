/**
 * Key layout of the project's buckets: what the infrastructure routes on (event rule patterns, lifecycle
 * rules, grants) and what the handlers read and write. One definition, so a rule and the code it
 * triggers cannot disagree about a prefix.
 */

/** Raw uploads: `raw/<purpose>/<name>.jsonl` (or `raw/<purpose>/<name>/<file>.jsonl`) start DataPrep. */
export const RAW_PREFIX = 'raw/';

/** Documents that RagIngest parses itself: `raw/rag/<path>.<extension>`. */
export const RAG_RAW_PREFIX = `${RAW_PREFIX}rag/`;

/** Document extensions that RagIngest parses itself (JSONL under `raw/rag/` goes through DataPrep). */
export const RAG_DOCUMENT_EXTENSIONS = ['md', 'markdown', 'txt', 'html', 'htm', 'pdf'] as const;

/**
 * EventBridge wildcards for the RAG documents. Wildcards are case-sensitive, so the common upper-case
 * extensions are listed too. Every other key of the raw bucket, `raw/rag/*.jsonl` included, goes to
 * DataPrep: JSONL is validated, PII-redacted and deduplicated first, and its
 * `llmops.DatasetReady {purpose: rag}` then starts RagIngest.
 */
export const RAG_DOCUMENT_WILDCARDS: readonly string[] = RAG_DOCUMENT_EXTENSIONS.flatMap((ext) => [
  `${RAG_RAW_PREFIX}*.${ext}`,
  `${RAG_RAW_PREFIX}*.${ext.toUpperCase()}`,
]);

/**
 * Dataset versions in the curated bucket: `datasets/<purpose>/<name>/v<version>/` (data files and
 * manifest), written by DataPrep Finalize; `datasets/rag/` is what RagIngest reads.
 */
export const DATASETS_PREFIX = 'datasets/';

/** Intermediate output of the pipelines in the artifacts bucket, expired by a lifecycle rule. */
export const STAGING_PREFIX = 'staging/';

/**
 * Lines DataPrep quarantined, in the artifacts bucket: the original text of each bad line, PII not
 * redacted. Only Finalize writes here and no function of the stack reads it (operators read it with their
 * own credentials); a lifecycle rule expires it after `dataPrep.quarantineExpirationDays`. Kept out of the
 * curated bucket so that no reader of curated data can read it.
 */
export const QUARANTINE_PREFIX = 'quarantine/';

/**
 * Evaluation reports in the artifacts bucket: `evaluations/<runId>/summary.json`, `items.jsonl`,
 * `report.html` and `report.md`, written once by the Evaluate state machine's Report step.
 */
export const EVALUATIONS_PREFIX = 'evaluations/';

/** Staged items, answers and scores of Evaluate runs (under the staging lifecycle rule). */
export const EVALUATION_STAGING_PREFIX = `${STAGING_PREFIX}eval/`;

/**
 * Bring-your-own predictions of Evaluate runs, in the artifacts bucket: `predictions/<path>.jsonl`, one
 * `{id, prediction, contexts?}` per line, named by a run request's `predictions` (the Plan step reads it).
 */
export const PREDICTIONS_PREFIX = 'predictions/';

/**
 * The interaction log in the artifacts bucket: `interactions/dt=YYYY-MM-DD/` (GZIP JSON lines, one
 * `llmops.InteractionRecorded` detail each), delivered by Firehose; the drift checks read it.
 */
export const INTERACTIONS_PREFIX = 'interactions/';

/**
 * Drift in the artifacts bucket: `drift/baselines/<check>/` (the records of each baseline version) and
 * `drift/reports/<check>/<window end>/` (`summary.json` and `report.html` of each checked window).
 */
export const DRIFT_PREFIX = 'drift/';
export const DRIFT_BASELINES_PREFIX = `${DRIFT_PREFIX}baselines/`;
export const DRIFT_REPORTS_PREFIX = `${DRIFT_PREFIX}reports/`;

/** A DriftCheck execution's window records, between its Collect and Check steps (under the staging rule). */
export const DRIFT_STAGING_PREFIX = `${STAGING_PREFIX}drift/`;

/**
 * Fine-tuning in the artifacts bucket: `finetune/output/<training job>/output/model.tar.gz` (the LoRA
 * adapter SageMaker packs from /opt/ml/model), `finetune/checkpoints/<job id>/` (spot checkpoints, read
 * back when an interrupted job resumes) and `finetune/lineage/<job id>.json` (the model package's lineage).
 */
export const FINETUNE_PREFIX = 'finetune/';
export const FINETUNE_OUTPUT_PREFIX = `${FINETUNE_PREFIX}output/`;
export const FINETUNE_CHECKPOINTS_PREFIX = `${FINETUNE_PREFIX}checkpoints/`;
export const FINETUNE_LINEAGE_PREFIX = `${FINETUNE_PREFIX}lineage/`;

/**
 * Human feedback's exports (the feedback export): preference pairs go where any upload goes, under
 * `raw/preference/<dataset>/<export>.jsonl` in the raw bucket (DataPrep curates them), and the
 * held-out feedback prompts under `raw/golden/<dataset>-holdout/<export>.jsonl` (a suite for the win-rate
 * report); thumbs without a pair (KTO records) are kept apart, under `feedback/unpaired/` in the
 * artifacts bucket, which nothing curates.
 */
export const FEEDBACK_PREFIX = 'feedback/';
export const FEEDBACK_UNPAIRED_PREFIX = `${FEEDBACK_PREFIX}unpaired/`;
export const PREFERENCE_RAW_PREFIX = `${RAW_PREFIX}preference/`;
export const GOLDEN_RAW_PREFIX = `${RAW_PREFIX}golden/`;
