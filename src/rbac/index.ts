/**
 * @module Least privilege from the trail: the RBAC authorizer's semantics over the grants (from a
 * dump, or rebuilt from the RBAC objects' history in the store), and the answers built on them —
 * the minimal RBAC an identity needs (`generateRbac`), the granted access nobody uses
 * (`unusedAccess`), who could do something and who did (`whoCan`). Every answer is a plain
 * function over an `AuditStore`, so the CLI and a web API call the same code.
 */
export * from './types.js'
export { allowedReason, allowedSubjects, authorize, ruleAllows, subjectMatches, visitRulesFor, SUPERUSER_GROUP, type AllowedSubject, type Decision, type Grant } from './authorizer.js'
export { aggregateClusterRoles, selectorMatches } from './aggregate.js'
export { Grants, bootstrapPolicy, BOOTSTRAP_FILE, type GrantsOptions } from './grants.js'
export { rbacObjectFrom, toKubernetes, ObjectInvalid } from './objects.js'
export { loadRbacFile, parseRbacDump, RbacDumpInvalidError, type LoadedRbac } from './load.js'
export { RbacHistory, rbacHistoryFromStore, rbacChangesQuery, RBAC_RESOURCES, type RbacChange } from './history.js'
export { accessesOf, accessesOfRow, allAccesses, attributesOfRow, outcomeOf, requestedGroups, identityLabel, identityUserName, accessIsBy, type Access, type Identity, type Outcome } from './access.js'
export { generateRbac, grantsToEveryone, objectNameFor, subjectOf, EXPANSIONS, VERB_EXPANSIONS, type Expansion, type GenerateOptions, type GenerateResult, type GeneratedRole, type RuleEvidence, type DeniedRequest } from './generate.js'
export { manifestYaml } from './manifest.js'
export { loadGrants, type GrantsSourceOptions, type LoadedGrants } from './grants-source.js'
export { permissionRisk, ruleRisk, urlRisk, type Risk } from './risk.js'
export { unusedAccess, lastSeenBefore, permissionsOf, subjectLabel, type Permission, type SubjectUsage, type UnusedOptions, type UnusedPermission, type UnusedResult } from './unused.js'
export { whoCan, type WhoCanEntry, type WhoCanResult } from './who-can.js'
