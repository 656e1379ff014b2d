import { describe, expect, it } from 'vitest';
import { createCleanupStack } from './cleanup-stack.js';

describe('createCleanupStack', () => {
  it('runs steps newest first, each after the previous settled, and only once', async () => {
    const order: string[] = [];
    const stack = createCleanupStack();
    stack.defer(() => {
      order.push('database');
    });
    stack.defer(async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('channel');
    });
    stack.defer(() => {
      order.push('server');
    });
    await stack.run(() => {});
    await stack.run(() => {});
    expect(order).toEqual(['server', 'channel', 'database']);
  });

  it('reports a failing step and still runs the others', async () => {
    const order: string[] = [];
    const errors: unknown[] = [];
    const stack = createCleanupStack();
    stack.defer(() => {
      order.push('first');
    });
    stack.defer(() => {
      throw new Error('close failed');
    });
    stack.defer(async () => {
      order.push('last');
    });
    await stack.run((err) => errors.push(err));
    expect(order).toEqual(['last', 'first']);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('close failed');
  });
});
