/**
 * @module The command table: every `kubetrail` command, in the order `--help` lists them.
 * Adding a command = one module in this folder + one line here.
 */
import type { CommandDefinition } from '../command.js'

export const COMMANDS: readonly CommandDefinition<never>[] = []
