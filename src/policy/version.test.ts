import { describe, expect, it } from 'vitest'
import { UsageError } from '../core/errors.js'
import { NEWEST_KUBERNETES, formatKubernetesVersion, parseKubernetesVersion, supports } from './version.js'

describe('--kubernetes-version', () => {
  it.each([
    ['1.29', { major: 1, minor: 29 }],
    ['v1.29.3', { major: 1, minor: 29 }],
    ['v1.30.1-gke.100', { major: 1, minor: 30 }],
    [' 1.20 ', { major: 1, minor: 20 }],
  ])('parses %j', (text, expected) => {
    expect(parseKubernetesVersion(text)).toEqual(expected)
  })

  it('defaults to the newest release kubetrail knows', () => {
    expect(parseKubernetesVersion(undefined)).toEqual({ major: 1, minor: 37 })
    expect(formatKubernetesVersion(NEWEST_KUBERNETES)).toBe('1.37')
  })

  it.each(['banana', '1', '1.x', 'v2.0', '1.18', '1.29.3.4'])('rejects %j as a usage error', (text) => {
    expect(() => parseKubernetesVersion(text)).toThrow(UsageError)
  })

  it('knows the first release of each behaviour change', () => {
    const v = parseKubernetesVersion
    const firstWith = (feature: Parameters<typeof supports>[1]) => [20, 22, 23, 24, 25, 26, 33, 34, 35, 36, 37].find((m) => supports(v(`1.${m}`), feature))
    expect(firstWith('omitManagedFields')).toBe(23)
    expect(firstWith('v1OnlyPolicy')).toBe(24)
    expect(firstWith('strictThenLenientDecoding')).toBe(26)
    expect(firstWith('jsonSliceMessages')).toBe(34)
    expect(firstWith('groupWildcard')).toBe(36)
  })
})
