/**
 * Fault injection for the crash-safety tests: when `CUSTODY_TEST_CRASH_AT` names this
 * point (never honoured in production), the process dies on the spot, like a node
 * losing power, with no chance to clean up.
 */
export function crashPoint(configured: string | undefined, name: string): void {
  if (configured === name) process.kill(process.pid, 'SIGKILL');
}
