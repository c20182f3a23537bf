import { metrics } from '@opentelemetry/api'
import { type DataPoint, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'

/** A reader that collects on demand: the SDK's own pipeline, without an export interval. */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface Point {
  attributes: Record<string, unknown>
  /** A counter's sum, or a histogram's { count, sum }. */
  value: unknown
}

/** An OpenTelemetry SDK MeterProvider with a reader, and what it has recorded so far by instrument name. */
export function sdk(options: { global?: boolean } = {}) {
  const reader = new CollectingReader()
  const provider = new MeterProvider({ readers: [reader] })
  if (options.global) metrics.setGlobalMeterProvider(provider)
  return {
    meter: provider.getMeter('test'),
    async collect(): Promise<Record<string, Point[]>> {
      const { resourceMetrics, errors } = await reader.collect()
      if (errors.length > 0) throw errors[0]
      const out: Record<string, Point[]> = {}
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          out[metric.descriptor.name] = (metric.dataPoints as DataPoint<unknown>[]).map((p) => ({
            attributes: { ...p.attributes },
            value:
              typeof p.value === 'number'
                ? p.value
                : { count: (p.value as { count: number }).count, sum: (p.value as { sum: number }).sum },
          }))
        }
      }
      return out
    },
    async shutdown(): Promise<void> {
      if (options.global) metrics.disable()
      await provider.shutdown()
    },
  }
}
