export {
  DEFAULTS,
  KEY_ATTRIBUTE,
  LABEL_ATTRIBUTE,
  METRICS,
  NAMESPACE_ATTRIBUTE,
  type OtelMetricsOptions,
  otelMetrics,
} from './otel-metrics'
