/**
 * @module The collector's Prometheus metrics (prom-client), one registry per collector so tests
 * can run several. Names and labels are what `deploy/prometheus/kubetrail-rules.yaml` uses.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export type Source = 'webhook' | 'follow'

export function createMetrics() {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'kubetrail_process_' })
  const m = {
    registry,
    received: new Counter({ name: 'kubetrail_events_received_total', help: 'Events received, before any check.', labelNames: ['cluster', 'source'], registers: [registry] }),
    stored: new Counter({ name: 'kubetrail_events_stored_total', help: 'Events committed to the store (new ones).', labelNames: ['cluster'], registers: [registry] }),
    deduplicated: new Counter({ name: 'kubetrail_events_deduplicated_total', help: 'Events already in the store (apiserver retries, overlapping files).', labelNames: ['cluster'], registers: [registry] }),
    rejected: new Counter({ name: 'kubetrail_events_rejected_total', help: 'Events refused as malformed.', labelNames: ['cluster', 'source'], registers: [registry] }),
    bodiesOmitted: new Counter({ name: 'kubetrail_events_bodies_omitted_total', help: 'Events stored with their bodies replaced by a marker (annotation kubetrail.io/bodies-omitted) because a step failed on them.', labelNames: ['cluster', 'source'], registers: [registry] }),
    detectionErrors: new Counter({ name: 'kubetrail_detection_errors_total', help: 'Events live detection failed on (they are stored; no alert came from them).', registers: [registry] }),
    dropped: new Counter({ name: 'kubetrail_events_dropped_total', help: 'Events dropped on purpose by the kubetrail-side audit policy.', labelNames: ['cluster', 'source', 'reason'], registers: [registry] }),
    redacted: new Counter({ name: 'kubetrail_values_redacted_total', help: 'Secret values replaced by a keyed-hash marker.', labelNames: ['cluster'], registers: [registry] }),
    requests: new Counter({ name: 'kubetrail_webhook_requests_total', help: 'Webhook requests by reply code.', labelNames: ['cluster', 'code'], registers: [registry] }),
    batchEvents: new Histogram({ name: 'kubetrail_webhook_batch_events', help: 'Events per webhook request.', buckets: [1, 10, 50, 100, 200, 400, 1000, 5000], registers: [registry] }),
    commitSeconds: new Histogram({ name: 'kubetrail_wal_commit_duration_seconds', help: 'Time from receiving a batch to its durable WAL commit.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    sealSeconds: new Histogram({ name: 'kubetrail_store_commit_duration_seconds', help: 'Time to commit one WAL file to the store.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    storeErrors: new Counter({ name: 'kubetrail_store_write_errors_total', help: 'Failed writes (WAL or store); nothing acknowledged is lost, but ingestion is held back.', labelNames: ['stage'], registers: [registry] }),
    walBytes: new Gauge({ name: 'kubetrail_wal_pending_bytes', help: 'Acknowledged bytes not yet committed to the store.', registers: [registry] }),
    followerLagBytes: new Gauge({ name: 'kubetrail_follower_lag_bytes', help: 'Bytes of the followed file not yet read.', labelNames: ['cluster', 'path'], registers: [registry] }),
    followerLagSeconds: new Gauge({ name: 'kubetrail_follower_lag_seconds', help: 'Age of the oldest unread change of the followed file (0 when caught up).', labelNames: ['cluster', 'path'], registers: [registry] }),
    followerFailing: new Gauge({ name: 'kubetrail_follower_failing', help: '1 while the follower of this file keeps failing (the collector log says why; /readyz too).', labelNames: ['path'], registers: [registry] }),
    newestEvent: new Gauge({ name: 'kubetrail_newest_event_timestamp_seconds', help: 'stageTimestamp of the newest event received per cluster (Unix seconds).', labelNames: ['cluster'], registers: [registry] }),
    alerts: new Counter({ name: 'kubetrail_alerts_total', help: 'Alerts raised by live detection.', labelNames: ['rule', 'severity'], registers: [registry] }),
    alertSinkErrors: new Counter({ name: 'kubetrail_alert_sink_errors_total', help: 'Failed deliveries to an alert sink (retried with backoff).', labelNames: ['sink'], registers: [registry] }),
    alertsDropped: new Counter({ name: 'kubetrail_alerts_dropped_total', help: 'Alerts dropped because a sink queue was full.', labelNames: ['sink'], registers: [registry] }),
    up: new Gauge({ name: 'kubetrail_collector_ready', help: '1 when the collector accepts events.', registers: [registry] }),
    // the chain head, recorded outside the data directory on every commit (the full hash is in the log)
    chainLinks: new Gauge({ name: 'kubetrail_store_chain_links', help: 'Links in the store\'s tamper-evident chain (the link number of its head).', registers: [registry] }),
    chainHeadFingerprint: new Gauge({ name: 'kubetrail_store_chain_head_fingerprint', help: 'The first 48 bits of the chain head\'s hash, as a number: its history in Prometheus is a record of the chain outside the data directory.', registers: [registry] }),
    integrityFailures: new Counter({ name: 'kubetrail_store_integrity_failures_total', help: 'Rewrites of stored data (compaction) refused because what they read does not match the chain: the data directory was tampered with.', labelNames: ['operation'], registers: [registry] }),
  }
  return m
}

export type CollectorMetrics = ReturnType<typeof createMetrics>
