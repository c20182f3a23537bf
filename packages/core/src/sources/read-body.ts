/** Token responses and discovery documents are a few KiB; anything far larger is refused unread. */
export const MAX_BODY_BYTES = 256 * 1024

/**
 * Reads a response body as text, at most `limit` bytes: a misbehaving endpoint streaming megabytes
 * must not exhaust a Lambda's memory. The rest is cancelled, not downloaded.
 */
export async function readBody(
  response: Response,
  limit = MAX_BODY_BYTES,
): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: '', truncated: false }
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return { text: Buffer.concat(chunks).toString('utf8'), truncated: false }
    size += value.byteLength
    if (size > limit) {
      chunks.push(value.subarray(0, value.byteLength - (size - limit)))
      await reader.cancel().catch(() => undefined)
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true }
    }
    chunks.push(value)
  }
}
