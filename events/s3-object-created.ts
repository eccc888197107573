import * as z from 'zod';
import { eventBridgeEvent } from './envelope.ts';

/**
 * S3 "Object Created" as delivered by S3 → EventBridge notifications. Loose objects: S3 sends fields
 * that are not always present or documented (`event-version`, `aws-generated-tags`, storage-class
 * details), and multipart uploads have ETags like `"9b2cf535f27731c974343645a3985328-12"`.
 */
export const s3ObjectCreatedDetail = z.looseObject({
  version: z.string(),
  bucket: z.looseObject({ name: z.string().min(3) }),
  object: z.looseObject({
    key: z.string().min(1),
    size: z.number().int().nonnegative().optional(),
    etag: z.string().optional(),
    'version-id': z.string().optional(),
    sequencer: z.string().optional(),
  }),
  'request-id': z.string().optional(),
  requester: z.string().optional(),
  'source-ip-address': z.string().optional(),
  reason: z.string().optional(),
});

export const s3ObjectCreatedEvent = eventBridgeEvent('Object Created', s3ObjectCreatedDetail);
export type S3ObjectCreatedEvent = z.infer<typeof s3ObjectCreatedEvent>;

/**
 * S3 "Object Deleted": a delete (or, in a versioned bucket, a delete marker: `reason` is
 * `DeleteMarkerCreated` and `version-id` is the marker's) or a lifecycle expiration.
 */
export const s3ObjectDeletedDetail = z.looseObject({
  version: z.string(),
  bucket: z.looseObject({ name: z.string().min(3) }),
  object: z.looseObject({
    key: z.string().min(1),
    'version-id': z.string().optional(),
    sequencer: z.string().optional(),
  }),
  'deletion-type': z.string().optional(),
  reason: z.string().optional(),
});

export const s3ObjectDeletedEvent = eventBridgeEvent('Object Deleted', s3ObjectDeletedDetail);
export type S3ObjectDeletedEvent = z.infer<typeof s3ObjectDeletedEvent>;
