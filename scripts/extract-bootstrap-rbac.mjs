#!/usr/bin/env node
// Writes src/rbac/builtin/bootstrap-1.20.json: the RBAC objects a real kube-apiserver v1.20.2
// created at its first start (its bootstrap policy), taken from the bodies of its own create
// requests in the recorded log test/fixtures/real-apiserver/runs/full/audit.log. kubetrail uses
// them for the built-in `system:` roles and bindings a grants source does not contain.
//   node scripts/extract-bootstrap-rbac.mjs
import { readFileSync, writeFileSync } from 'node:fs'

const log = new URL('../test/fixtures/real-apiserver/runs/full/audit.log', import.meta.url)
const out = new URL('../src/rbac/builtin/bootstrap-1.20.json', import.meta.url)
const KINDS = { roles: 'Role', clusterroles: 'ClusterRole', rolebindings: 'RoleBinding', clusterrolebindings: 'ClusterRoleBinding' }

const objects = []
for (const line of readFileSync(log, 'utf8').split('\n')) {
  if (!line) continue
  const e = JSON.parse(line)
  if (e.stage !== 'ResponseComplete' || e.verb !== 'create' || e.user.username !== 'system:apiserver') continue
  if (e.objectRef?.apiGroup !== 'rbac.authorization.k8s.io' || e.responseStatus?.code !== 201) continue
  const o = e.responseObject
  const meta = { name: o.metadata.name }
  if (o.metadata.namespace) meta.namespace = o.metadata.namespace
  if (o.metadata.labels) meta.labels = o.metadata.labels
  if (o.metadata.annotations) meta.annotations = o.metadata.annotations
  const kept = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: KINDS[e.objectRef.resource], metadata: meta }
  for (const f of ['rules', 'aggregationRule', 'subjects', 'roleRef']) if (o[f] !== undefined) kept[f] = o[f]
  objects.push(kept)
}
const order = Object.values(KINDS)
objects.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name))
writeFileSync(out, JSON.stringify({ kubernetesVersion: 'v1.20.2', source: 'test/fixtures/real-apiserver/runs/full/audit.log', items: objects }, null, 1) + '\n')
console.log(`${objects.length} objects → ${out.pathname}`)
