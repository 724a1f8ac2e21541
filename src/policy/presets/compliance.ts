/** The seed's "compliance-focused policy" (SOC 2, PCI-DSS), without logging secret values. */
export const compliance = `# kubetrail preset: compliance
# For regulated environments (SOC 2, PCI-DSS): every write with full request and response
# bodies, every read of sensitive objects, everything else at Metadata.
# Changed from the guide's version: secrets, configmaps and tokens are excluded from the
# body-level rule (it would write Secret values and bearer tokens into the log, which most
# auditors count as a finding of its own), "deletecollection" counts as a write, and reads of
# secrets/configmaps are Metadata (a read request has no body; Request level added nothing).
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  # Sensitive objects: every access recorded, never the values.
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: "authentication.k8s.io"
        resources: ["tokenreviews"]

  # All writes with full bodies: what changed, and what the object looked like after.
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete", "deletecollection"]

  # Everything else, including all reads.
  - level: Metadata
`
