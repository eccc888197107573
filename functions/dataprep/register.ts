import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { Context } from 'aws-lambda';
import { createDocumentClient, createEventBridgeClient } from '#aws/clients.ts';
import { readConfig } from '#aws/config.ts';
import { DatasetRegistry } from '#aws/dataset-registry.ts';
import { publishEvent } from '#aws/events-publisher.ts';
import { logger, metrics, withObservability } from '#aws/observability.ts';
import { parseInput } from '#aws/parse-input.ts';
import { envVar } from '#contracts/env.ts';
import { finalizeOutput, type RegisterOutput } from '#contracts/pipelines/dataprep.ts';
import { DATASET_READY, datasetReadyDetail } from '#events/dataset-ready.ts';
import { LLMOPS_SOURCE, SCHEMA_VERSION } from '#events/envelope.ts';

/**
 * Register: writes the immutable dataset version to the registry, marks its source object version as
 * registered (so redeliveries become no-ops), and announces `llmops.DatasetReady` on the project's bus.
 * A retry after a partial failure re-publishes the same (name, version): consumers key on that pair.
 */
export interface RegisterDeps {
  readonly registry: Pick<DatasetRegistry, 'registerVersion'>;
  readonly events: EventBridgeClient;
  readonly busName: string;
}

export function makeHandler(deps: RegisterDeps) {
  return async (input: unknown, _context?: Context): Promise<RegisterOutput> => {
    const state = parseInput(finalizeOutput, input, 'Register input');
    logger.appendKeys({ runId: state.runId });
    const source = {
      bucket: state.source.bucket,
      key: state.source.key,
      versionId: state.source.versionId,
      etag: state.source.etag,
    };
    const outcome = await deps.registry.registerVersion({
      name: state.dataset.name,
      purpose: state.dataset.purpose,
      version: state.dataset.version,
      runId: state.runId,
      createdAt: state.createdAt,
      manifest: state.manifest,
      files: state.files,
      counts: state.counts,
      contentHash: state.contentHash,
      source,
    });
    const eventId = await publishEvent(deps.events, {
      busName: deps.busName,
      source: LLMOPS_SOURCE,
      detailType: DATASET_READY,
      schema: datasetReadyDetail,
      detail: {
        schemaVersion: SCHEMA_VERSION,
        name: state.dataset.name,
        version: state.dataset.version,
        purpose: state.dataset.purpose,
        manifest: state.manifest,
        files: state.files,
        counts: state.counts,
        contentHash: state.contentHash,
        source,
      },
    });
    metrics.addMetric('DatasetsRegistered', 'Count', 1);
    logger.info('Dataset version registered', { dataset: state.dataset, outcome, eventId });
    return { status: 'REGISTERED', outcome, dataset: state.dataset, manifest: state.manifest, eventId };
  };
}

/** The environment this function reads (a contract: the stack sets exactly these variables). */
export const environment = { DATASETS_TABLE: envVar.string(), EVENT_BUS_NAME: envVar.string() };

const config = readConfig(environment);

export const handler = withObservability(
  makeHandler({
    registry: new DatasetRegistry(createDocumentClient(), config.DATASETS_TABLE),
    events: createEventBridgeClient(),
    busName: config.EVENT_BUS_NAME,
  }),
);
