/** Commands that only read the store, and so can run in a running `kubetrail serve` (query-socket.ts). Apart so that the CLI's entry can ask without loading the socket client. */
export const SERVED_COMMANDS: ReadonlySet<string> = new Set(['query', 'who', 'history', 'top', 'sql', 'verify'])
