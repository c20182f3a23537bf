// Cold-start baseline with Middy: @middy/core around an empty handler, so the table shows what
// Middy itself loads (node:stream and friends) apart from what tokenstash adds.
import middy from '@middy/core'

export const handler = middy().handler(async () => ({ statusCode: 200 }))
