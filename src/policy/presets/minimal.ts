/** The seed's "minimal security policy": only secrets and interactive pod access. */
export const minimal = `# kubetrail preset: minimal
# The smallest useful policy: who touched Secrets, and who opened a shell or a tunnel into a
# pod. Nothing else is recorded, so deletions, RBAC changes and failed logins are NOT
# attributable: prefer "comprehensive" or "low-write" unless volume is critical.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  # Secret access, without the values.
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets"]

  # exec/attach/port-forward. No verbs listed on purpose: kubectl >= 1.30 uses "get"
  # (WebSockets), older clients "create" (SPDY).
  - level: Metadata
    resources:
      - group: ""
        resources: ["pods/exec", "pods/attach", "pods/portforward"]

  # Everything else: not recorded (an explicit choice, not an accident).
  - level: None
`
