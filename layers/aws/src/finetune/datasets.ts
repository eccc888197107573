import { TRAINING_PURPOSES, type TrainingPurpose } from '#contracts/finetune/job.ts';
import type { DatasetRegistry, DatasetVersionItem } from '../dataset-registry.ts';
import { NotFoundError, ValidationError } from '../errors.ts';

/**
 * A registered dataset version a job may train on (purpose `finetune` or `preference`), looked up by
 * name and, optionally, version (default: the latest).
 */

/** No finetune or preference dataset version of that name (and version) is registered. */
export class DatasetVersionNotFoundError extends NotFoundError {}

export type TrainingDatasetVersion = DatasetVersionItem & { readonly purpose: TrainingPurpose };

type Registry = Pick<DatasetRegistry, 'getVersion' | 'listVersions'>;

async function versionOf(
  registry: Registry,
  purpose: TrainingPurpose,
  name: string,
  version: number | undefined,
): Promise<DatasetVersionItem | undefined> {
  if (version !== undefined) return registry.getVersion(purpose, name, version);
  const versions = await registry.listVersions(purpose, name);
  return versions.reduce<DatasetVersionItem | undefined>(
    (latest, item) => (latest === undefined || item.version > latest.version ? item : latest),
    undefined,
  );
}

/**
 * The dataset version of a purpose when it is known (an `llmops.FineTuneRequested` names it), else of
 * whichever training purpose has that name.
 * @throws DatasetVersionNotFoundError naming the dataset and version; ValidationError (`dataset.name`)
 * when both purposes have a dataset of that name and none is named.
 */
export async function findTrainingDataset(
  registry: Registry,
  dataset: { readonly name: string; readonly version?: number | undefined },
  purpose?: TrainingPurpose,
): Promise<TrainingDatasetVersion> {
  const purposes = purpose === undefined ? TRAINING_PURPOSES : [purpose];
  const found = (
    await Promise.all(purposes.map((p) => versionOf(registry, p, dataset.name, dataset.version)))
  ).filter((item): item is DatasetVersionItem => item !== undefined);
  const label = `${dataset.name}${dataset.version === undefined ? '' : ` v${dataset.version}`}`;
  if (found.length === 0) {
    throw new DatasetVersionNotFoundError(
      `No ${purposes.join(' or ')} dataset ${label} is registered: upload its JSONL under raw/${purposes[0]}/ (DataPrep curates and registers it), or name a registered version`,
    );
  }
  if (found.length > 1) {
    throw new ValidationError(
      'dataset.name',
      `${dataset.name} names both a finetune and a preference dataset: rename one of the uploads`,
    );
  }
  return found[0] as TrainingDatasetVersion;
}
