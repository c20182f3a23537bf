// Cold-start baseline: a bare handler, no dependency.
export const handler = async () => ({ statusCode: 200 })
