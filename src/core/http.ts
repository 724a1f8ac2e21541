/**
 * @module One small HTTP(S) client for what kubetrail sends: webhook batches (replay), alerts
 * (sinks) and metrics scrapes (doctor). Client certificates and bearer tokens, no redirects.
 */
import { request as httpsRequest } from 'node:https'
import { request as plainRequest } from 'node:http'

export interface HttpCredentials {
  /** PEM CA bundle for the server's certificate. */
  ca?: string
  /** Client certificate and key (PEM). */
  cert?: string
  key?: string
  token?: string
  /** false: do not verify the server's certificate. */
  rejectUnauthorized?: boolean
}

export interface HttpReply {
  status: number
  body: string
  retryAfter?: string
}

export function httpRequest(method: 'GET' | 'POST', url: URL, body: string | undefined, creds: HttpCredentials = {}, timeoutMs?: number): Promise<HttpReply> {
  return new Promise((done, fail) => {
    const headers: Record<string, string> = { Accept: 'application/json, */*' }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json'
      headers['Content-Length'] = String(Buffer.byteLength(body))
    }
    if (creds.token) headers['Authorization'] = `Bearer ${creds.token}`
    const options = { method, headers, ca: creds.ca, cert: creds.cert, key: creds.key, rejectUnauthorized: creds.rejectUnauthorized ?? true, timeout: timeoutMs }
    const req = (url.protocol === 'https:' ? httpsRequest : plainRequest)(url, options, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => done({ status: res.statusCode ?? 0, body: text, retryAfter: res.headers['retry-after'] }))
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', fail)
    req.end(body)
  })
}

/** One POST of a JSON body; resolves with the status and body whatever the status. */
export function post(url: URL, body: string, creds: HttpCredentials = {}, timeoutMs?: number): Promise<HttpReply> {
  return httpRequest('POST', url, body, creds, timeoutMs)
}
