/**
 * The artifact the local training stand-in writes where SageMaker would write a trained model:
 * `<S3OutputPath>/<TrainingJobName>/output/model.tar.gz`. It is a real gzip'd tar (so code that downloads
 * and unpacks a model archive works on it) holding a note that says plainly that no training happened, and
 * an `adapter_config.json` marked as a placeholder. Deterministic: entries sorted by name, every mtime 0,
 * uid/gid 0, the gzip header's mtime 0.
 */
import { tarGz } from '#infra/tar-gz.ts';

export { listTarGz, readTarGz, type TarEntry, type TarFile, tarGz } from '#infra/tar-gz.ts';

/** The archive's file name, as SageMaker names it. */
export const MODEL_ARTIFACT_NAME = 'model.tar.gz';

/** What the placeholder archive says about the job it stands in for. */
export interface PlaceholderArtifactOptions {
  readonly trainingJobName: string;
  /** The `base_model` hyperparameter, if the job had one. */
  readonly baseModel?: string | undefined;
}

/** The placeholder `model.tar.gz`: `PLACEHOLDER.md` and `adapter_config.json`. */
export function placeholderModelArtifact(options: PlaceholderArtifactOptions): Buffer {
  const note = [
    '# Placeholder: not a model',
    '',
    `This archive was written by the local training stand-in for training job \`${options.trainingJobName}\`.`,
    'No training happened: nothing was run, no weights were computed, and this file is not a model.',
    'It exists so that the steps after training (registering, deploying, reading the artifact) can run',
    'locally. Only a real SageMaker training job produces a model.',
    '',
  ].join('\n');
  const adapterConfig = {
    placeholder: true,
    base_model_name_or_path: options.baseModel ?? null,
    peft_type: 'LORA',
  };
  return tarGz([
    { name: 'PLACEHOLDER.md', content: note },
    { name: 'adapter_config.json', content: `${JSON.stringify(adapterConfig, null, 2)}\n` },
  ]);
}
