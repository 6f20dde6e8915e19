import { expect } from 'vitest';
import { expectProblem } from '../integration/contract-helpers.js';
import type { ApiResponse } from './client.js';

/**
 * A registration refused at `step`: 422 HANDSHAKE_FAILED, every earlier step passed, no
 * later step ran, the failed step carries `code` and the advice, and `detail` names both.
 */
export function expectHandshakeFailedAt(
  res: ApiResponse,
  steps: readonly string[],
  failure: { step: string; code: string; advice: RegExp },
): void {
  expectProblem(res, 422, 'HANDSHAKE_FAILED');
  const ran = res.body.handshake.steps as { name: string; ok: boolean; error?: any }[];
  const at = steps.indexOf(failure.step);
  expect(ran.map((s) => s.name)).toEqual(steps.slice(0, at + 1));
  expect(ran.slice(0, at).every((s) => s.ok)).toBe(true);
  expect(ran[at]).toMatchObject({ ok: false, error: { code: failure.code } });
  expect(ran[at]!.error.message).toMatch(failure.advice);
  expect(res.body.detail).toContain(failure.step);
  expect(res.body.detail).toContain(failure.code);
}
