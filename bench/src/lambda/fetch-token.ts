// The hand-rolled client-credentials request the peer handlers cache (Cognito-shaped: form body,
// Basic auth), so that they differ from each other only in how they cache.
const TOKEN_ENDPOINT =
  process.env.TOKEN_ENDPOINT ?? 'https://orders.auth.eu-west-1.amazoncognito.com/oauth2/token'
const basic = Buffer.from(
  `${process.env.COGNITO_CLIENT_ID ?? 'client'}:${process.env.COGNITO_CLIENT_SECRET ?? 'secret'}`,
).toString('base64')

/** Requests an access token with the client-credentials grant. */
export async function fetchToken(): Promise<string> {
  const res = await fetch(TOKEN_ENDPOINT, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`)
  return ((await res.json()) as { access_token: string }).access_token
}
