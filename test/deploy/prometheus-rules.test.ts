/**
 * The alert rules in deploy/prometheus, checked with the real promtool (Debian's `prometheus`
 * package, installed by scripts/setup-system.sh): syntax, the unit tests beside them, the
 * AuditLogError rule on the counters a real kube-apiserver exported with a full disk (and on a
 * healthy run), and every kubetrail metric a rule uses exists in the collector's registry.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { FIXTURES_DIR, requireFixture } from '../support/fixtures.js'
import { createMetrics } from '../../src/collector/index.js'

const RULES_DIR = resolve(import.meta.dirname, '../../deploy/prometheus')

function promtool(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' })
  if (r.error) throw new Error(`promtool is not installed (run scripts/setup-system.sh): ${r.error.message}`)
  return { status: r.status, out: r.stdout + r.stderr }
}

/** A counter's value in a Prometheus text exposition (0 when absent: it is only exported once incremented). */
function counter(file: string, name: string): number {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(name) && !l.startsWith('#'))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('deploy/prometheus/kubetrail-rules.yaml', () => {
  it('passes promtool check rules and its own unit tests', () => {
    const check = promtool(['check', 'rules', 'kubetrail-rules.yaml'], RULES_DIR)
    expect(check.out).toMatch(/SUCCESS: 10 rules found/)
    expect(check.status).toBe(0)
    const test = promtool(['test', 'rules', 'kubetrail-rules.test.yaml'], RULES_DIR)
    expect(test.out).toContain('SUCCESS')
    expect(test.status).toBe(0)
  })

  it('AuditLogError fires on the counters of a real apiserver whose disk filled, and not on a healthy one', () => {
    const run = (name: string) => requireFixture(resolve(FIXTURES_DIR, 'runs', name))
    const dir = mkdtempSync(join(tmpdir(), 'kubetrail-promtool-'))
    copyFileSync(join(RULES_DIR, 'kubetrail-rules.yaml'), join(dir, 'kubetrail-rules.yaml'))
    const series = (runDir: string, instance: string) => {
      const before = join(runDir, 'metrics.audit-before-traffic.txt')
      const after = join(runDir, 'metrics.audit-after-traffic.txt')
      // the traffic between the two scrapes, spread over 10 minutes
      const ramp = (a: number, b: number) => Array.from({ length: 11 }, (_, i) => Math.round(a + ((b - a) * i) / 10)).join(' ')
      return [
        { series: `apiserver_audit_event_total{instance="${instance}"}`, values: ramp(counter(before, 'apiserver_audit_event_total'), counter(after, 'apiserver_audit_event_total')) },
        { series: `apiserver_audit_error_total{instance="${instance}",plugin="log"}`, values: ramp(counter(before, 'apiserver_audit_error_total'), counter(after, 'apiserver_audit_error_total')) },
      ]
    }
    const full = run('write-errors/log-tmpfs-full-blocking')
    const healthy = run('full')
    expect(counter(join(full, 'metrics.audit-after-traffic.txt'), 'apiserver_audit_error_total')).toBeGreaterThan(0)
    const test = {
      rule_files: ['kubetrail-rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [...series(full, 'disk-full:6443'), ...series(healthy, 'healthy:6443')],
          // expecting nothing makes promtool print what the rule did produce ("got")
          alert_rule_test: [{ eval_time: '9m', alertname: 'AuditLogError', exp_alerts: [] }],
        },
      ],
    }
    writeFileSync(join(dir, 'real.test.yaml'), JSON.stringify(test))
    const r = promtool(['test', 'rules', 'real.test.yaml'], dir)
    const got = r.out.slice(r.out.indexOf('got:'))
    expect(got).toMatch(/Labels:\{alertname="AuditLogError", instance="disk-full:6443", severity="warning"\}/)
    expect(got).toMatch(/description="7\d\.\d+% of the audit events of disk-full:6443 failed/)
    expect(got).not.toContain('healthy:6443')
  })

  it('uses only metrics and labels the collector exports', async () => {
    const rules = parse(readFileSync(join(RULES_DIR, 'kubetrail-rules.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string; annotations: { runbook: string } }> }> }
    const { registry } = createMetrics()
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      expect(readFileSync(resolve(RULES_DIR, '../..', rule.annotations.runbook), 'utf8'), rule.alert).toMatch(/^# /)
      for (const [, name] of rule.expr.matchAll(/\b(kubetrail_[a-z_]+)/g)) {
        const metric = registry.getSingleMetric(name!) as unknown as { labelNames: string[] } | undefined
        expect(metric, `${rule.alert}: ${name}`).toBeDefined()
        const labels = new Set([...metric!.labelNames, 'instance', 'job'])
        for (const [, by] of rule.expr.matchAll(/by \(([^)]*)\)/g)) for (const label of by!.split(',').map((l) => l.trim())) expect(labels.has(label), `${rule.alert}: ${name} has no label ${label}`).toBe(true)
      }
    }
    execFileSync('promtool', ['--version'])
  })
})
