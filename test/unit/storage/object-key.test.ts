import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertObjectKey,
  assertObjectKeyPrefix,
  InvalidObjectKeyError,
  objectKeyFor,
} from '../../../src/storage/object-key.js';
import { objectPath } from '../../../src/storage/local/paths.js';

describe('objectKeyFor', () => {
  it('partitions by UTC date', () => {
    expect(objectKeyFor('rec_01HX', new Date('2026-11-22T23:30:00-05:00'))).toBe(
      'year=2026/month=11/day=23/rec_01HX.esdk',
    );
    expect(objectKeyFor('abc-DEF_9', new Date('2026-01-05T00:00:00Z'))).toBe(
      'year=2026/month=01/day=05/abc-DEF_9.esdk',
    );
  });

  it.each(['', 'a/b', '../x', 'rec:1', 'r e c', 'x'.repeat(129)])('refuses recording id %j', (id) => {
    expect(() => objectKeyFor(id, new Date())).toThrow(InvalidObjectKeyError);
  });

  it('refuses an invalid date', () => {
    expect(() => objectKeyFor('rec', new Date('nope'))).toThrow(RangeError);
  });

  it('always produces a valid key', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
        fc.date({ min: new Date('1970-01-01'), max: new Date('9999-12-31'), noInvalidDate: true }),
        (id, at) => {
          expect(assertObjectKey(objectKeyFor(id, at))).toMatch(/^year=\d{4}\/month=\d\d\/day=\d\d\//);
        },
      ),
    );
  });
});

describe('assertObjectKey', () => {
  it.each(['a', 'year=2026/month=11/day=22/rec.esdk', 'a b/c', 'ünï/cødé', 'a..b'])('accepts %j', (key) => {
    expect(assertObjectKey(key)).toBe(key);
  });

  it.each([
    ['', 'empty'],
    ['/a', 'absolute'],
    ['..', 'dot'],
    ['a/../b', 'dot'],
    ['a/./b', 'dot'],
    ['a//b', 'empty path segment'],
    ['a/', 'empty path segment'],
    ['a\\..\\b', 'backslash'],
    ['a\u0000b', 'control'],
    ['a\nb', 'control'],
    ['.hidden', 'dot'],
    ['x'.repeat(1025), 'longer'],
  ])('rejects %j (%s)', (key, reason) => {
    expect(() => assertObjectKey(key)).toThrow(InvalidObjectKeyError);
    expect(() => assertObjectKey(key)).toThrow(new RegExp(reason === 'dot' ? '"\\."' : reason));
  });

  it('prefixes may end with "/" or inside a segment, but not escape', () => {
    for (const ok of ['', 'year=2026/', 'year=2026/month=1', 'a']) expect(assertObjectKeyPrefix(ok)).toBe(ok);
    for (const bad of ['/', '../', 'a/../', 'a//', '.x', '/abs']) {
      expect(() => assertObjectKeyPrefix(bad)).toThrow(InvalidObjectKeyError);
    }
  });

  it('every accepted key resolves strictly inside the local root', () => {
    const root = path.resolve('/srv/custody/storage/acme/default');
    const segment = fc.oneof(
      fc.constantFrom('..', '.', '', '...', '.partial', 'a.partial', '\\', '/', '%2e%2e', 'year=2026'),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.boolean(), (segments, absolute) => {
        const key = (absolute ? '/' : '') + segments.join('/');
        let resolved: string;
        try {
          resolved = objectPath(root, key);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidObjectKeyError);
          return;
        }
        expect(resolved.startsWith(root + path.sep)).toBe(true);
        expect(path.relative(root, resolved).split(path.sep)).toEqual(key.split('/'));
      }),
      { numRuns: 2000 },
    );
  });
});
