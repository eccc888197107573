/** Kinesis Data Firehose delivery streams and their S3 destinations. */
import type { LocalTemplate } from '../template.ts';
import { isRecord, numberOr } from './cfn.ts';
import { TemplateError } from './errors.ts';

/** The S3 destination of a delivery stream, as the local runner writes to it. */
export interface LocalFirehoseS3Destination {
  readonly bucketArn: string;
  readonly bucketName: string;
  /** The raw Prefix, with its `!{namespace:...}` expressions unevaluated. */
  readonly prefix: string;
  readonly errorOutputPrefix: string | undefined;
  /** `UNCOMPRESSED`, `GZIP`, `ZIP`, `Snappy` or `HADOOP_SNAPPY`. */
  readonly compressionFormat: string;
  /** `FileExtension`, when set (otherwise `.gz` for GZIP, none for UNCOMPRESSED). */
  readonly fileExtension: string | undefined;
  readonly bufferingHints: { readonly intervalInSeconds: number; readonly sizeInMBs: number };
  /** Enabled processors, with their parameters as a name → value map. */
  readonly processors: ReadonlyArray<{
    readonly type: string;
    readonly parameters: Readonly<Record<string, string>>;
  }>;
  readonly dynamicPartitioning: boolean;
  readonly dataFormatConversion: boolean;
  /** `CustomTimeZone` (prefix and object name times), when set. @default UTC */
  readonly customTimeZone: string | undefined;
}

/** A Kinesis Data Firehose delivery stream (`AWS::KinesisFirehose::DeliveryStream`). */
export interface LocalDeliveryStream {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** `DirectPut` or `KinesisStreamAsSource`. */
  readonly type: string;
  /** The S3 destination (ExtendedS3DestinationConfiguration or S3DestinationConfiguration), if that is its destination. */
  readonly s3: LocalFirehoseS3Destination | undefined;
}

/** Kinesis Data Firehose delivery streams, with their S3 destination when they have one. */
export function readDeliveryStreams(t: LocalTemplate): LocalDeliveryStream[] {
  return t.resourcesOfType('AWS::KinesisFirehose::DeliveryStream').map(({ logicalId, resource }) => {
    const props = resource.Properties ?? {};
    const type = t.resolve(props.DeliveryStreamType);
    const config = t.resolve(props.ExtendedS3DestinationConfiguration ?? props.S3DestinationConfiguration);
    let s3: LocalFirehoseS3Destination | undefined;
    if (isRecord(config)) {
      const bucketArn = String(config.BucketARN ?? '');
      const bucket = /^arn:[^:]+:s3:::([^/]+)$/.exec(bucketArn)?.[1];
      if (bucket === undefined) {
        throw new TemplateError(
          `BucketARN of delivery stream ${logicalId} is not a bucket ARN: '${bucketArn}'`,
        );
      }
      const processing = isRecord(config.ProcessingConfiguration) ? config.ProcessingConfiguration : {};
      const processors =
        processing.Enabled === false || processing.Enabled === 'false'
          ? []
          : (Array.isArray(processing.Processors) ? processing.Processors : []).filter(isRecord).map((p) => ({
              type: String(p.Type),
              parameters: Object.fromEntries(
                (Array.isArray(p.Parameters) ? p.Parameters : [])
                  .filter(isRecord)
                  .map((parameter) => [String(parameter.ParameterName), String(parameter.ParameterValue)]),
              ),
            }));
      const hints = isRecord(config.BufferingHints) ? config.BufferingHints : {};
      const enabledFlag = (value: unknown) =>
        isRecord(value) && (value.Enabled === true || value.Enabled === 'true');
      s3 = {
        bucketArn,
        bucketName: bucket,
        prefix: typeof config.Prefix === 'string' ? config.Prefix : '',
        errorOutputPrefix:
          typeof config.ErrorOutputPrefix === 'string' ? config.ErrorOutputPrefix : undefined,
        compressionFormat:
          typeof config.CompressionFormat === 'string' ? config.CompressionFormat : 'UNCOMPRESSED',
        fileExtension: typeof config.FileExtension === 'string' ? config.FileExtension : undefined,
        bufferingHints: {
          intervalInSeconds: numberOr(hints.IntervalInSeconds, 300),
          sizeInMBs: numberOr(hints.SizeInMBs, 5),
        },
        processors,
        dynamicPartitioning: enabledFlag(config.DynamicPartitioningConfiguration),
        dataFormatConversion: enabledFlag(config.DataFormatConversionConfiguration),
        customTimeZone: typeof config.CustomTimeZone === 'string' ? config.CustomTimeZone : undefined,
      };
    }
    return {
      logicalId,
      name: t.ref(logicalId),
      arn: t.getAtt(logicalId, 'Arn'),
      type: typeof type === 'string' ? type : 'DirectPut',
      s3,
    };
  });
}
