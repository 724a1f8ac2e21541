/**
 * @module Answers to the questions people ask of audit logs: named presets over the store.
 */
export { QUERY_PRESETS, findPreset, withPreset, type QueryPreset } from './presets.js'
export { privilegedReasons, tokenReviewFailed } from '../model/index.js'
export { isExternalIP } from '../model/index.js'
export { compileWhere, WhereInvalidError } from './where.js'
export { diffObjects, formatChange, type FieldChange } from './object-diff.js'
export { latestStagePerRequest, stageRank } from './requests.js'
