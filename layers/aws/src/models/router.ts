/**
 * Picks the provider that answers for a catalog model. In `catalog` mode the model's `provider` field
 * decides; in `offline` mode (the local run and the tests) the offline provider answers for every
 * model, and its results say `provider: 'offline'`. AWS providers are built on first use, so an
 * offline-only process never creates an SDK client.
 */
import type { CatalogModel } from '#contracts/models/catalog.ts';
import { OfflineProvider } from '#core/models/offline.ts';
import type {
  ChatRequest,
  ChatResult,
  ChatStreamEvent,
  EmbedRequest,
  EmbedResult,
  ModelProvider,
  ProviderName,
} from '#core/models/types.ts';
import { BedrockProvider } from './bedrock.ts';
import { createBedrockRuntimeClient } from './clients.ts';

/** A provider, or a factory called once, on first use. */
export type ProviderSource = ModelProvider | (() => ModelProvider);

export interface ProviderRouterOptions {
  /** `catalog`: by each model's `provider`; `offline`: the offline provider for every model. */
  readonly mode: 'catalog' | 'offline';
  /** @default a `BedrockProvider` on a client from `createBedrockRuntimeClient()` */
  readonly bedrock?: ProviderSource;
  /**
   * @default a `SageMakerProvider` on its own client, whose module (and the SageMaker Runtime SDK) is
   * loaded on the first SageMaker call: a deployment that serves only Bedrock models never evaluates it
   */
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

/** A provider whose module is imported when it is first called (a failed import is tried again). */
export class DeferredProvider implements ModelProvider {
  private loading: Promise<ModelProvider> | undefined;

  constructor(
    readonly name: ProviderName,
    private readonly load: () => Promise<ModelProvider>,
  ) {}

  private provider(): Promise<ModelProvider> {
    this.loading ??= this.load().catch((error: unknown) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    return (await this.provider()).chat(request);
  }

  async *chatStream(request: ChatRequest): AsyncGenerator<ChatStreamEvent> {
    yield* (await this.provider()).chatStream(request);
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    return (await this.provider()).embed(request);
  }
}

/** Builds the router; providers (and their SDK clients) are created when first asked for. */
export function createProviderRouter(options: ProviderRouterOptions): ProviderRouter {
  const providers: Record<ProviderName, () => ModelProvider> = {
    bedrock: lazy(options.bedrock, () => new BedrockProvider({ client: createBedrockRuntimeClient() })),
    sagemaker: lazy(
      options.sagemaker,
      () =>
        new DeferredProvider('sagemaker', async () => {
          const { SageMakerProvider, createSageMakerRuntimeClient } = await import('./sagemaker.ts');
          return new SageMakerProvider({ client: createSageMakerRuntimeClient() });
        }),
    ),
    offline: lazy(options.offline, () => new OfflineProvider()),
  };
  if (options.mode === 'offline') return () => providers.offline();
  return (model) => providers[model.provider]();
}
