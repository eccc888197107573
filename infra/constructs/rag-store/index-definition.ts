/**
 * The chunk index body, written once in the OpenSearch REST shape (`layers/core/src/rag/opensearch-mapping.ts`),
 * as the properties of `AWS::OpenSearchServerless::Index`: the index the stack creates is exactly the one
 * the adapter was written against, and anything CloudFormation cannot express fails synthesis by path.
 */
import type * as aoss from 'aws-cdk-lib/aws-opensearchserverless';

/** An OpenSearch index body (`PUT <index>`) in the REST, snake_case shape. */
export interface OpenSearchIndexBody {
  readonly settings?: { readonly index?: Readonly<Record<string, unknown>> };
  readonly mappings: { readonly properties: Readonly<Record<string, Readonly<Record<string, unknown>>>> };
}

/** What {@link toCfnIndexDefinition} makes of an index body. */
export interface CfnIndexDefinition {
  readonly settings?: aoss.CfnIndex.IndexSettingsProperty;
  readonly mappings: aoss.CfnIndex.MappingsProperty;
}

/** Thrown when an index body uses something the CloudFormation resource cannot express. */
export class IndexBodyConversionError extends Error {
  /** JSON path of the offending key in the index body, e.g. `mappings.properties.title.copy_to`. */
  public readonly path: string;

  constructor(path: string, message: string) {
    super(
      `Cannot declare the OpenSearch index body as AWS::OpenSearchServerless::Index: ${path}: ${message}`,
    );
    this.name = 'IndexBodyConversionError';
    this.path = path;
  }
}

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new IndexBodyConversionError(path, 'must be a string');
  return value;
}

function expectInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new IndexBodyConversionError(path, 'must be an integer');
  }
  return value;
}

function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new IndexBodyConversionError(path, 'must be a boolean');
  return value;
}

function expectObject(value: unknown, path: string): Json {
  if (!isObject(value)) throw new IndexBodyConversionError(path, 'must be an object');
  return value;
}

function unsupported(path: string, key: string, supported: readonly string[]): never {
  throw new IndexBodyConversionError(
    `${path}.${key}`,
    `no AWS::OpenSearchServerless::Index property for "${key}" (supported here: ${supported.join(', ')})`,
  );
}

const METHOD_KEYS = ['name', 'engine', 'space_type', 'parameters'] as const;
const PARAMETER_KEYS = ['m', 'ef_construction'] as const;

function convertMethod(method: Json, path: string): aoss.CfnIndex.MethodProperty {
  let name: string | undefined;
  let engine: string | undefined;
  let spaceType: string | undefined;
  let parameters: aoss.CfnIndex.ParametersProperty | undefined;
  for (const [key, value] of Object.entries(method)) {
    const at = `${path}.${key}`;
    switch (key) {
      case 'name':
        name = expectString(value, at);
        break;
      case 'engine':
        engine = expectString(value, at);
        break;
      case 'space_type':
        spaceType = expectString(value, at);
        break;
      case 'parameters': {
        let m: number | undefined;
        let efConstruction: number | undefined;
        for (const [pKey, pValue] of Object.entries(expectObject(value, at))) {
          if (pKey === 'm') m = expectInteger(pValue, `${at}.m`);
          else if (pKey === 'ef_construction')
            efConstruction = expectInteger(pValue, `${at}.ef_construction`);
          else unsupported(at, pKey, PARAMETER_KEYS);
        }
        parameters = {
          ...(m !== undefined ? { m } : {}),
          ...(efConstruction !== undefined ? { efConstruction } : {}),
        };
        break;
      }
      default:
        unsupported(path, key, METHOD_KEYS);
    }
  }
  if (name === undefined) throw new IndexBodyConversionError(`${path}.name`, 'is required');
  return {
    name,
    ...(engine !== undefined ? { engine } : {}),
    ...(spaceType !== undefined ? { spaceType } : {}),
    ...(parameters !== undefined ? { parameters } : {}),
  };
}

const FIELD_KEYS = [
  'type',
  'dimension',
  'method',
  'properties',
  'index',
  'analyzer',
  'data_type',
  'compression_level',
  'space_type',
] as const;

/** The property `Type`s the CloudFormation reference allows (PropertyMapping `Type`: `text | knn_vector`). */
const FIELD_TYPES: readonly string[] = ['text', 'knn_vector'];

function convertProperties(
  properties: Json,
  path: string,
): Record<string, aoss.CfnIndex.PropertyMappingProperty> {
  const out: Record<string, aoss.CfnIndex.PropertyMappingProperty> = {};
  for (const [field, mapping] of Object.entries(properties)) {
    out[field] = convertField(expectObject(mapping, `${path}.${field}`), `${path}.${field}`);
  }
  return out;
}

function convertField(field: Json, path: string): aoss.CfnIndex.PropertyMappingProperty {
  const type = expectString(field.type, `${path}.type`);
  if (!FIELD_TYPES.includes(type)) {
    throw new IndexBodyConversionError(
      `${path}.type`,
      `AWS::OpenSearchServerless::Index allows only the types ${FIELD_TYPES.join(', ')}, not "${type}"; leave the field to dynamic mapping instead`,
    );
  }
  const out: {
    -readonly [K in keyof aoss.CfnIndex.PropertyMappingProperty]: aoss.CfnIndex.PropertyMappingProperty[K];
  } = { type };
  for (const [key, value] of Object.entries(field)) {
    const at = `${path}.${key}`;
    switch (key) {
      case 'type':
        break;
      case 'dimension':
        out.dimension = expectInteger(value, at);
        break;
      case 'method':
        out.method = convertMethod(expectObject(value, at), at);
        break;
      case 'properties':
        out.properties = convertProperties(expectObject(value, at), at);
        break;
      case 'index':
        out.index = expectBoolean(value, at);
        break;
      case 'analyzer':
        out.analyzer = expectString(value, at);
        break;
      case 'data_type':
        out.dataType = expectString(value, at);
        break;
      case 'compression_level':
        out.compressionLevel = expectString(value, at);
        break;
      case 'space_type':
        out.spaceType = expectString(value, at);
        break;
      default:
        unsupported(path, key, FIELD_KEYS);
    }
  }
  return out;
}

const SETTINGS_KEYS = ['knn', 'knn.algo_param.ef_search', 'refresh_interval'] as const;

function convertSettings(settings: Json, path: string): aoss.CfnIndex.IndexSettingsProperty {
  const index: { -readonly [K in keyof aoss.CfnIndex.IndexProperty]: aoss.CfnIndex.IndexProperty[K] } = {};
  for (const [key, value] of Object.entries(settings)) {
    if (key !== 'index') unsupported(path, key, ['index']);
    const at = `${path}.index`;
    for (const [setting, settingValue] of Object.entries(expectObject(value, at))) {
      const settingPath = `${at}.${setting}`;
      if (setting === 'knn') index.knn = expectBoolean(settingValue, settingPath);
      else if (setting === 'knn.algo_param.ef_search') {
        index.knnAlgoParamEfSearch = expectInteger(settingValue, settingPath);
      } else if (setting === 'refresh_interval') {
        index.refreshInterval = expectString(settingValue, settingPath);
      } else unsupported(at, setting, SETTINGS_KEYS);
    }
  }
  return { index };
}

/**
 * Converts an OpenSearch index body (REST, snake_case) to the properties of
 * `AWS::OpenSearchServerless::Index` (CDK camelCase), so that the index the stack creates is exactly the
 * one the adapter was written against. Every key must have a CloudFormation counterpart: anything else
 * throws {@link IndexBodyConversionError} naming its path, rather than being dropped silently. So does a
 * field `type` other than `text` or `knn_vector`, the only `Type` values the CloudFormation reference allows
 * (other fields are left to OpenSearch's dynamic mapping, see `opensearch-mapping.ts`).
 */
export function toCfnIndexDefinition(body: OpenSearchIndexBody): CfnIndexDefinition {
  for (const key of Object.keys(body)) {
    if (key !== 'settings' && key !== 'mappings') unsupported('body', key, ['settings', 'mappings']);
  }
  const mappings = expectObject(body.mappings, 'mappings');
  for (const key of Object.keys(mappings)) {
    if (key !== 'properties') unsupported('mappings', key, ['properties']);
  }
  const properties = convertProperties(
    expectObject(mappings.properties, 'mappings.properties'),
    'mappings.properties',
  );
  return {
    ...(body.settings !== undefined
      ? { settings: convertSettings(expectObject(body.settings, 'settings'), 'settings') }
      : {}),
    mappings: { properties },
  };
}
