/**
 * Taskbus's public programmatic surface. Everything else is internal.
 */

export type {
  BodyOf,
  ClientOptions,
  ResultOf,
  TaskbusClient,
  TaskHandle,
  TaskStatus,
} from './client/index.ts';
export { createClient, TaskbusClientError } from './client/index.ts';
export type { Clock } from './clock.ts';
export { ManualClock, systemClock } from './clock.ts';
export type { TaskbusConfig } from './config/config.ts';
export { defineConfig } from './config/config.ts';
export type { DeadLetterFilter } from './deadletter/filter.ts';
export { installDeadLetters } from './deadletter/install.ts';
export type { DeadLetterPayload } from './deadletter/payload.ts';
export { verifyWebhookSignature } from './deadletter/signature.ts';
export type {
  ActionRetrySettings,
  DeadLetterConfig,
  DeadLetterRule,
  RuleAction,
  RuleCondition,
  RuleMode,
  SmtpConfig,
} from './deadletter/types.ts';
export type { ErrorCode } from './errors.ts';
export { ERRORS, LockLostError, TaskbusError } from './errors.ts';
export type { OpenApiOptions } from './http/openapi/plugin.ts';
export type { RateLimit, RateLimitConfig, TaskRateLimit } from './http/ratelimit/config.ts';
export type { LogConfig, MetricsConfig } from './observability/config.ts';
export type { StorageDriver } from './storage/driver.ts';
export { openDriver } from './storage/open.ts';
export type { EnqueueResultInfo, TaskbusEvents, TaskbusOptions } from './taskbus.ts';
export { createTaskbus, Taskbus } from './taskbus.ts';
export type {
  EnqueueOptions,
  LoadedTask,
  TaskContext,
  TaskDefinition,
  TaskExport,
  TaskHandler,
} from './tasks/define.ts';
export { defineTask } from './tasks/define.ts';
export { loadTaskDir } from './tasks/load.ts';
export type { Attempt, BackoffSettings, MessageRecord, MessageState, QueueCounts } from './types.ts';
