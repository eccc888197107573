/**
 * Picks the provider that answers for a catalog model. In `catalog` mode the model's `provider` field
 * decides; in `offline` mode (the local run and the tests) the offline provider answers for every
 * model, and its results say `provider: 'offline'`. AWS providers are built on first use, so an
 * offline-only process never creates an SDK client.
 */
import type { CatalogModel } from '../../../core/src/models/catalog.ts';
import { OfflineProvider } from '../../../core/src/models/offline.ts';
import type { ModelProvider, ProviderName } from '../../../core/src/models/types.ts';
import { BedrockProvider } from './bedrock.ts';
import { createBedrockRuntimeClient, createSageMakerRuntimeClient } from './clients.ts';
import { SageMakerProvider } from './sagemaker.ts';

/** A provider, or a factory called once, on first use. */
export type ProviderSource = ModelProvider | (() => ModelProvider);

export interface ProviderRouterOptions {
  /** `catalog`: by each model's `provider`; `offline`: the offline provider for every model. */
  readonly mode: 'catalog' | 'offline';
  /** @default a `BedrockProvider` on a client from `createBedrockRuntimeClient()` */
  readonly bedrock?: ProviderSource;
  /** @default a `SageMakerProvider` on a client from `createSageMakerRuntimeClient()` */
  readonly sagemaker?: ProviderSource;
  /** @default a new `OfflineProvider` */
  readonly offline?: ProviderSource;
}

/** Returns the provider to call for a catalog model. */
export type ProviderRouter = (model: Pick<CatalogModel, 'provider'>) => ModelProvider;

function lazy(source: ProviderSource | undefined, fallback: () => ModelProvider): () => ModelProvider {
  let provider: ModelProvider | undefined = typeof source === 'object' ? source : undefined;
  return () => {
    provider ??= typeof source === 'function' ? source() : fallback();
    return provider;
  };
}

/** Builds the router; providers (and their SDK clients) are created when first asked for. */
export function createProviderRouter(options: ProviderRouterOptions): ProviderRouter {
  const providers: Record<ProviderName, () => ModelProvider> = {
    bedrock: lazy(options.bedrock, () => new BedrockProvider({ client: createBedrockRuntimeClient() })),
    sagemaker: lazy(
      options.sagemaker,
      () => new SageMakerProvider({ client: createSageMakerRuntimeClient() }),
    ),
    offline: lazy(options.offline, () => new OfflineProvider()),
  };
  if (options.mode === 'offline') return () => providers.offline();
  return (model) => providers[model.provider]();
}
