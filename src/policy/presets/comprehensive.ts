/** The seed's "comprehensive security policy", with the traps it had fixed (see the comments). */
export const comprehensive = `# kubetrail preset: comprehensive
# A security-focused policy for most clusters: every request is recorded at least as Metadata
# (who, what, when, from where, and the answer), writes to workloads and RBAC carry their
# bodies, and nothing that holds secret values is logged with bodies.
#
# Based on the "comprehensive security policy" of the Kubernetes audit guide. Fixed:
#  - Secrets were logged at RequestResponse: Secret values in the log. Now Metadata, together
#    with ConfigMaps, service-account tokens and TokenReviews (same problem).
#  - The guide's kube-proxy rule (watch endpoints/services) came after a rule that already
#    matched all its requests, so it never applied; that rule still covers them: removed.
#  - exec/attach/portforward were matched with verb "create" only, which misses kubectl >= 1.30
#    (WebSockets, verb "get"). At Request level they recorded nothing more than Metadata.
#  - "deletecollection" counts as a write (kubectl delete --all).
# Added: health probes and reads of events, leases and endpointslices are dropped (constant,
# no security value);
# writes of replicasets, jobs, cronjobs, ingresses, PDBs and admission webhooks carry bodies.
# podsecuritypolicies is gone (removed in Kubernetes 1.25).
apiVersion: audit.k8s.io/v1
kind: Policy
# RequestReceived only duplicates what ResponseComplete records later (about half the volume).
# ResponseStarted must stay: failed logins (401) are recorded at that stage only, and it marks
# the start of watches and exec sessions.
omitStages:
  - RequestReceived
rules:
  # Health and version probes: very frequent, no security value.
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"]

  # Reads of high-churn, non-sensitive objects by anyone (kube-proxy's watches included).
  - level: None
    verbs: ["get", "list", "watch"]
    resources:
      - group: ""
        resources: ["endpoints", "services", "services/status", "pods/status", "events"]
      - group: "coordination.k8s.io"
        resources: ["leases"]
      - group: "discovery.k8s.io"
        resources: ["endpointslices"]

  # Secrets, ConfigMaps and tokens: always logged, but at Metadata. With bodies the log would
  # hold Secret data, ConfigMap contents, bearer tokens under review and issued tokens.
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: "authentication.k8s.io"
        resources: ["tokenreviews"]

  # RBAC changes with full bodies: who granted what to whom.
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: "rbac.authorization.k8s.io"

  # Interactive access to pods. Both verbs: kubectl >= 1.30 opens exec, attach and
  # port-forward over WebSockets (HTTP GET, verb "get"); older clients use SPDY (POST, "create").
  - level: Metadata
    verbs: ["get", "create"]
    resources:
      - group: ""
        resources: ["pods/exec", "pods/attach", "pods/portforward"]

  # Writes to workloads and their exposure, with request bodies (e.g. a privileged pod spec).
  - level: Request
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: ""
        resources: ["pods", "services", "serviceaccounts"]
      - group: "apps"
        resources: ["deployments", "daemonsets", "statefulsets", "replicasets"]
      - group: "batch"
        resources: ["jobs", "cronjobs"]
      - group: "networking.k8s.io"
        resources: ["networkpolicies", "ingresses"]
      - group: "policy"
        resources: ["poddisruptionbudgets"]
      - group: "admissionregistration.k8s.io"

  # Everything else: who did what, when and from where.
  - level: Metadata
`
