import { describe, expect, it } from 'vitest';
import { addDuration, parseDuration } from '../../../src/domain/duration.js';

const at = (iso: string) => new Date(iso);
const plus = (from: string, d: string) => addDuration(at(from), parseDuration(d)!).toISOString();

describe('ISO-8601 retention durations', () => {
  it('adds in UTC calendar arithmetic', () => {
    expect(plus('2026-01-15T10:00:00.000Z', 'P90D')).toBe('2026-04-15T10:00:00.000Z');
    expect(plus('2026-01-15T10:00:00.000Z', 'P1M')).toBe('2026-02-15T10:00:00.000Z');
    expect(plus('2026-01-31T00:00:00.000Z', 'P1M')).toBe('2026-02-28T00:00:00.000Z');
    expect(plus('2028-01-31T00:00:00.000Z', 'P1M')).toBe('2028-02-29T00:00:00.000Z');
    expect(plus('2028-02-29T00:00:00.000Z', 'P1Y')).toBe('2029-02-28T00:00:00.000Z');
    expect(plus('2026-11-30T00:00:00.000Z', 'P3M')).toBe('2027-02-28T00:00:00.000Z');
    expect(plus('2026-01-01T00:00:00.000Z', 'PT10S')).toBe('2026-01-01T00:00:10.000Z');
    expect(plus('2026-01-01T00:00:00.000Z', 'P1Y2M3DT4H5M6S')).toBe('2027-03-04T04:05:06.000Z');
    expect(plus('2026-01-01T00:00:00.000Z', 'P2W')).toBe('2026-01-15T00:00:00.000Z');
  });

  it.each(['', 'P', 'PT', 'P0D', 'P1H', 'P-1D', '90D', 'P1.5D', 'P1DT', 'PT1.2345S', 'P99999Y'])(
    'refuses %j',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});
