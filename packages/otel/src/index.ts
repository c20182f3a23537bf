export { KEY_ATTRIBUTE, METRICS, type OtelMetricsOptions, otelMetrics } from './otel-metrics'
