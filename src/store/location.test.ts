import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { describeLocation, parseStoreUrl, resolveStore } from './location.js'

const env = {} as NodeJS.ProcessEnv

describe('store locations', () => {
  it('reads duckdb:DIR relative to the current directory', () => {
    expect(parseStoreUrl('duckdb:./data', '/work', { env })).toEqual({ kind: 'duckdb', dir: '/work/data' })
    expect(parseStoreUrl('duckdb:/var/lib/kubetrail', '/work', { env })).toEqual({ kind: 'duckdb', dir: '/var/lib/kubetrail' })
  })

  it('reads a ClickHouse URL with its defaults and parameters', () => {
    expect(parseStoreUrl('clickhouse://ch', '/', { env })).toMatchObject({ endpoint: 'http://ch:8123', username: 'default', database: 'kubetrail', cluster: undefined, secure: false, password: '' })
    expect(parseStoreUrl('clickhouse://audit@ch.example:9999/trail?cluster=audit&secure=1', '/', { env: { KUBETRAIL_CLICKHOUSE_PASSWORD: 'pw' } })).toEqual({
      kind: 'clickhouse',
      endpoint: 'https://ch.example:9999',
      username: 'audit',
      password: 'pw',
      database: 'trail',
      cluster: 'audit',
      secure: true,
    })
    expect(parseStoreUrl('clickhouse://ch?secure=1', '/', { env })).toMatchObject({ endpoint: 'https://ch:8443' })
  })

  it('refuses a password in the URL, unknown parameters and names that are not identifiers', () => {
    expect(() => parseStoreUrl('clickhouse://u:secret@ch/db', '/', { env })).toThrow(/holds a password/)
    expect(() => parseStoreUrl('clickhouse://ch/db?compress=1', '/', { env })).toThrow(/unknown parameter "compress"/)
    expect(() => parseStoreUrl('clickhouse://ch/db%3Bdrop', '/', { env })).toThrow(/letters, digits and _/)
    expect(() => parseStoreUrl('clickhouse://ch/db?cluster=a-b', '/', { env })).toThrow(/letters, digits and _/)
    expect(() => parseStoreUrl('clickhouse://ch/db?secure=yes', '/', { env })).toThrow(/secure must be 0 or 1/)
    expect(() => parseStoreUrl('mysql://x', '/', { env })).toThrow(/use duckdb:DIR or clickhouse:/)
  })

  it('property: a database or cluster name reaches DDL only as an identifier', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (name) => {
        let parsed
        try {
          parsed = parseStoreUrl(`clickhouse://ch/${encodeURIComponent(name)}`, '/', { env })
        } catch {
          return
        }
        expect(parsed.kind === 'clickhouse' && /^[A-Za-z0-9_]+$/.test(parsed.database)).toBe(true)
      }),
    )
  })

  it('reads the password from a file without its final newline, and never shows it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kubetrail-pw-')), 'pw')
    writeFileSync(file, 's3cret\n')
    const l = parseStoreUrl('clickhouse://kt@ch/db', '/', { file, env: { KUBETRAIL_CLICKHOUSE_PASSWORD: 'other' } })
    expect(l).toMatchObject({ password: 's3cret' })
    expect(describeLocation(l)).toBe('clickhouse://kt@ch:8123/db')
    expect(() => parseStoreUrl('clickhouse://kt@ch/db', '/', { file: '/nonexistent/pw', env })).toThrow(/cannot read the ClickHouse password file/)
  })

  it('chooses --store, then KUBETRAIL_STORE, then the data directory', () => {
    expect(resolveStore({}, '/w', { KUBETRAIL_STORE: 'clickhouse://ch' })).toMatchObject({ kind: 'clickhouse' })
    expect(resolveStore({ store: 'duckdb:x' }, '/w', { KUBETRAIL_STORE: 'clickhouse://ch' })).toEqual({ kind: 'duckdb', dir: '/w/x' })
    // a directory on the command line beats an embedded store in the environment, not a server
    expect(resolveStore({ dataDir: 'd' }, '/w', { KUBETRAIL_STORE: 'duckdb:/e' })).toEqual({ kind: 'duckdb', dir: '/w/d' })
    expect(resolveStore({ dataDir: 'd' }, '/w', { KUBETRAIL_STORE: 'clickhouse://ch' })).toMatchObject({ kind: 'clickhouse' })
    expect(() => resolveStore({ store: 'duckdb:a', dataDir: 'b' }, '/w', env)).toThrow(/two different directories/)
    expect(resolveStore({ store: 'duckdb:a', dataDir: 'a' }, '/w', env)).toEqual({ kind: 'duckdb', dir: '/w/a' })
  })
})
