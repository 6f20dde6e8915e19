import { S3Client } from '@aws-sdk/client-s3';

/**
 * A real `S3Client` (lib-storage reads its config) whose every command is answered by
 * `answer` before anything is sent: for unit tests of what the S3 target asks of a store
 * that s3rver cannot stand in for (flexible checksums, Object Lock).
 */
export function answeredS3Client(
  answer: (commandName: string, input: Record<string, any>) => Promise<unknown>,
): S3Client {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
  });
  client.middlewareStack.add(
    (_next, context) => async (args) => ({
      output: (await answer(String(context.commandName), args.input as Record<string, any>)) as any,
      response: {},
    }),
    { step: 'initialize', priority: 'high', name: 'answeredS3' },
  );
  return client;
}
