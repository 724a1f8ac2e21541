/**
 * @module The command table: every `kubetrail` command, in the order `--help` lists them.
 * Adding a command = one module in this folder + one line here.
 */
import type { CommandDefinition } from '../command.js'
import policyCheck from './policy-check.js'
import policyExplain from './policy-explain.js'
import policySimulate from './policy-simulate.js'
import policyDiff from './policy-diff.js'
import policyLint from './policy-lint.js'
import policyInit from './policy-init.js'
import importLogs from './import.js'
import query from './query.js'
import who from './who.js'
import top from './top.js'
import history from './history.js'
import sql from './sql.js'
import verify from './verify.js'
import prune from './prune.js'
import { storeCopy, storeInit, storeStatus } from './store.js'
import serve from './serve.js'
import webhookConfig from './webhook-config.js'
import replay from './replay.js'
import doctor from './doctor.js'
import { enableCommand, disableCommand } from './enable.js'
import { rulesCheck, rulesCoverage } from './rules.js'
import detect from './detect.js'
import alerts from './alerts.js'

export const COMMANDS: readonly CommandDefinition<never>[] = [
  policyCheck as CommandDefinition<never>,
  policyExplain as CommandDefinition<never>,
  policyLint as CommandDefinition<never>,
  policySimulate as CommandDefinition<never>,
  policyDiff as CommandDefinition<never>,
  policyInit as CommandDefinition<never>,
  importLogs as CommandDefinition<never>,
  query as CommandDefinition<never>,
  who as CommandDefinition<never>,
  history as CommandDefinition<never>,
  top as CommandDefinition<never>,
  sql as CommandDefinition<never>,
  verify as CommandDefinition<never>,
  prune as CommandDefinition<never>,
  storeInit as CommandDefinition<never>,
  storeStatus as CommandDefinition<never>,
  storeCopy as CommandDefinition<never>,
  serve as CommandDefinition<never>,
  webhookConfig as CommandDefinition<never>,
  replay as CommandDefinition<never>,
  doctor as CommandDefinition<never>,
  enableCommand as CommandDefinition<never>,
  disableCommand as CommandDefinition<never>,
  rulesCheck as CommandDefinition<never>,
  rulesCoverage as CommandDefinition<never>,
  detect as CommandDefinition<never>,
  alerts as CommandDefinition<never>,
]
