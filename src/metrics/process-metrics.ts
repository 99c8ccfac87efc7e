import { Counter, Histogram, type Metric, type Registry } from 'prom-client'

// Metrics of this process that code outside an app records (storage calls, transcode jobs): made
// once, kept out of prom-client's global registry, and added to each registry that exposes them
// (an API node's /metrics, the worker's metrics port). None of them is touched per cached answer.

export const storageOperationSeconds = new Histogram({
  name: 'lectern_storage_operation_seconds',
  help: 'Object storage calls by operation and result; a get is timed until its stream is open (time to first byte).',
  labelNames: ['op', 'backend', 'result'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: []
})

export const transcodeJobsSettled = new Counter({
  name: 'lectern_transcode_jobs_settled_total',
  help: 'Transcode jobs this process finished with, by outcome (done, retry, failed, cancelled, lease-lost, released).',
  labelNames: ['outcome'] as const,
  registers: []
})

export const transcodeDurationSeconds = new Histogram({
  name: 'lectern_transcode_duration_seconds',
  help: 'Wall time of successful transcode jobs, from claim to ready.',
  buckets: [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200],
  registers: []
})

export const transcodeSpeedRatio = new Histogram({
  name: 'lectern_transcode_speed_ratio',
  help: 'Content seconds transcoded per wall second, per successful job (above 1: faster than real time).',
  buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
  registers: []
})

const PROCESS_METRICS: Metric[] = [storageOperationSeconds, transcodeJobsSettled, transcodeDurationSeconds, transcodeSpeedRatio]

/** Adds this process's shared metrics to a registry. */
export function registerProcessMetrics (registry: Registry): void {
  for (const metric of PROCESS_METRICS) registry.registerMetric(metric)
}
