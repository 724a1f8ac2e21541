/** The "low-write" policy of the seed incident runbook: attributable changes at minimal volume. */
export const lowWrite = `# kubetrail preset: low-write
# Makes every change attributable ("who deleted X, when, from where") at the lowest volume:
# reads and high-churn objects are dropped, every create/update/patch/delete is one Metadata
# line. From a real incident: a workload was deleted and nobody could tell who did it, because
# auditing was off. Reads (including reads of Secrets) and failed logins are NOT recorded.
apiVersion: audit.k8s.io/v1
kind: Policy
# One line per request.
omitStages:
  - RequestReceived
rules:
  # Drop all reads. A verbs-only rule also matches non-resource GETs (/metrics, discovery).
  - level: None
    verbs: ["get", "list", "watch"]

  # High-churn writes by controllers and kubelets.
  - level: None
    resources:
      - group: ""
        resources: ["events"]
      - group: "events.k8s.io"
        resources: ["events"]
      - group: "coordination.k8s.io"
        resources: ["leases"]
      - group: "discovery.k8s.io"
        resources: ["endpointslices"]

  # Authentication and authorization checks made by components (webhooks, kubelets).
  - level: None
    resources:
      - group: "authentication.k8s.io"
        resources: ["tokenreviews"]
      - group: "authorization.k8s.io"
        resources: ["subjectaccessreviews"]

  # Probes.
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"]

  # Every other request (all writes): Metadata, no bodies.
  - level: Metadata
`
