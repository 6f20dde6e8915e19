import { Command } from 'commander';
import { ConfigError } from '../config/index.js';
import { runMigrate, runRole } from '../runtime.js';
import { CliError } from './api-client.js';
import { apiKeysCommand } from './commands/api-keys.js';
import { auditCommand } from './commands/audit.js';
import { decryptCommand } from './commands/decrypt.js';
import { inspectCommand } from './commands/inspect.js';
import { keysCommand } from './commands/keys.js';
import { recordingsCommand } from './commands/recordings.js';
import { storageCommand } from './commands/storage.js';
import { tenantsCommand } from './commands/tenants.js';
import { webhooksCommand } from './commands/webhooks.js';

const program = new Command('custody')
  .description('Call recordings in each tenant’s own storage, under its own key.')
  .showHelpAfterError();

program.command('migrate').description('apply database migrations, then exit').action(runMigrate);
program
  .command('api')
  .description('serve the HTTP API')
  .action(() => runRole('api'));
program
  .command('worker')
  .description('run the queue workers (transfer, delete, retention, reconciler)')
  .action(() => runRole('worker'));
program
  .command('start')
  .description('migrate, then API and workers in one process')
  .action(() => runRole('start'));
decryptCommand(program);
inspectCommand(program);
auditCommand(program);
keysCommand(program);
// Admin commands over the HTTP API (CUSTODY_URL, CUSTODY_TOKEN).
tenantsCommand(program);
storageCommand(program);
apiKeysCommand(program);
recordingsCommand(program);
webhooksCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  // API problems exit 1, unreachable service 2, missing CUSTODY_URL/CUSTODY_TOKEN 64.
  if (err instanceof CliError) {
    process.stderr.write(`custody: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`custody: ${(err as Error).message}\n`);
  process.exit(1);
});
