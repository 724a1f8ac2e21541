/**
 * @module The JSON shapes of `kubetrail rbac …` (docs/output.md), checked by the CLI contract test.
 */
import { Type } from '@sinclair/typebox'

const S = Type.String()
const N = Type.Integer({ minimum: 0 })
const closed = { additionalProperties: false }
const SUBJECT = Type.Object({ kind: S, name: S, namespace: S }, closed)
const RULE = Type.Object({ verbs: Type.Array(S), apiGroups: Type.Array(S), resources: Type.Array(S), resourceNames: Type.Array(S), nonResourceURLs: Type.Array(S) }, closed)
const ATTRIBUTES = Type.Object({ verb: S, isResourceRequest: Type.Boolean(), apiGroup: S, resource: S, subresource: S, namespace: S, name: S, path: S }, closed)

/** A Kubernetes `List` of the generated objects (what `kubectl apply` reads), with kubetrail's summary beside the items. */
export const GENERATE_SCHEMA = Type.Object(
  {
    apiVersion: Type.Literal('v1'),
    kind: Type.Literal('List'),
    metadata: Type.Object({}, closed),
    items: Type.Array(Type.Object({ apiVersion: S, kind: S, metadata: Type.Object({ name: S }) })),
    summary: Type.Object(
      {
        identity: S,
        subject: SUBJECT,
        window: S,
        requests: Type.Object({ allowed: N, denied: N, unknown: N, allowedToEveryone: N }, closed),
        roles: Type.Array(
          Type.Object(
            {
              kind: Type.Union([Type.Literal('Role'), Type.Literal('ClusterRole')]),
              name: S,
              namespace: Type.Optional(S),
              rules: Type.Array(Type.Object({ rule: RULE, requests: N, firstUsed: S, lastUsed: S, expandedVerbs: Type.Array(S) }, closed)),
            },
            closed,
          ),
        ),
        denied: Type.Array(Type.Object({ verb: S, apiGroup: S, resource: S, namespace: S, name: S, path: S, code: N, requests: N, lastAt: S }, closed)),
      },
      closed,
    ),
  },
  closed,
)

const UNUSED_PERMISSION = Type.Object(
  { verb: S, apiGroup: S, resource: S, resourceNames: Type.Array(S), url: S, binding: S, role: S, namespace: S, risk: Type.Integer({ minimum: 0, maximum: 100 }), riskReasons: Type.Array(S) },
  closed,
)

export const UNUSED_SCHEMA = Type.Object(
  {
    since: S,
    grants: Type.Object({ source: S, objects: N, bindingsJudged: N }, closed),
    subjects: Type.Array(
      Type.Object({ subject: SUBJECT, label: S, bindings: Type.Array(S), requests: N, lastSeen: S, granted: N, used: N, unused: Type.Array(UNUSED_PERMISSION), dormant: Type.Boolean() }, closed),
    ),
    dormant: Type.Array(Type.Object({ subject: SUBJECT, label: S, bindings: Type.Array(S), lastSeenBefore: S }, closed)),
  },
  closed,
)

export const WHO_CAN_SCHEMA = Type.Object(
  {
    grants: S,
    request: ATTRIBUTES,
    allowed: Type.Array(Type.Object({ subject: SUBJECT, label: S, via: Type.Array(S), requests: N, lastUsed: S, users: Type.Array(S) }, closed)),
    didWithoutGrant: Type.Array(Type.Object({ user: S, requests: N, lastUsed: S, reason: S }, closed)),
  },
  closed,
)
