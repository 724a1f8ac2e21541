/**
 * @module Diagnosing and enabling auditing on a control-plane node: `kubetrail doctor`,
 * `enable`, `disable`.
 */
export { runDoctor, clusterConfiguration, KUBEADM_CONFIG_CANDIDATES, type DoctorOptions, type DoctorReport } from './doctor.js'
export { enableAudit, disableAudit, withAudit, withoutAudit, kubeadmPatch, ManifestEditError, AUDIT_CONFIG_DIR, type EnableOptions, type ChangeReport } from './enable.js'
export { exitCodeFor, worst, STATUSES, type Finding, type Status, type Evidence } from './findings.js'
export { parseApiserverManifest, hostPathOf, podsIn, ManifestError, type ApiserverManifest } from './manifest.js'
export { parseAuditSamples, scrapeAuditMetrics, type MetricsSource } from './metrics.js'
