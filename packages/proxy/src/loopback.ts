const NAMES = new Set(['localhost', '[::1]'])

/** 127.0.0.0/8, localhost and ::1: where the upstream may be plain http, as core's token URL check allows. */
export function isLoopbackHost(hostname: string): boolean {
  return NAMES.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}
