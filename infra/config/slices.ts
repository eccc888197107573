/**
 * What each construct reads of the configuration. A construct takes its own slice in its props (for
 * example `DataPrepProps.config: AppConfig['dataPrep']`), and the deployment facts every construct that
 * owns resources needs (`DeploymentConfig`: name, profile, log retention, removal, logging); the stack
 * hands them out, so no construct sees settings it has no business with.
 */
import type { AppConfig } from './schema.ts';

/** The deployment a construct is part of: how its resources are named, logged, retained and removed. */
export type DeploymentConfig = Pick<
  AppConfig,
  'profile' | 'stackName' | 'logRetentionDays' | 'logRetention' | 'removal' | 'observability'
>;

/** The buckets' lifecycle. */
export type StorageConfig = Pick<AppConfig, 'accessLogExpirationDays' | 'stagingExpirationDays'> &
  Pick<AppConfig['dataPrep'], 'quarantineExpirationDays'>;

/** The project event bus. */
export type EventBusConfig = Pick<AppConfig, 'eventArchiveRetentionDays'>;

/** The deployment slice of a configuration (a copy holding only those keys). */
export function deploymentOf(config: AppConfig): DeploymentConfig {
  const { profile, stackName, logRetentionDays, logRetention, removal, observability } = config;
  return { profile, stackName, logRetentionDays, logRetention, removal, observability };
}

/** The storage slice of a configuration. */
export function storageOf(config: AppConfig): StorageConfig {
  const { accessLogExpirationDays, stagingExpirationDays } = config;
  const { quarantineExpirationDays } = config.dataPrep;
  return { accessLogExpirationDays, stagingExpirationDays, quarantineExpirationDays };
}
