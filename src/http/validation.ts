import type { z } from 'zod';

/** A one-line, client-facing summary of what is wrong, naming each bad field. */
export function zodDetail(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}
