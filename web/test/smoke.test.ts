import { describe, expect, it } from 'vitest';

describe('build setup', () => {
  it('runs vitest', () => {
    expect([1, 2].map((x) => x * 2)).toEqual([2, 4]);
  });
});
