import { describe, expect, it } from 'vitest';
import { isZenMeshError, ZenMeshError } from './index.js';

class WidgetError extends ZenMeshError<'ERR_WIDGET_BROKEN' | 'ERR_WIDGET_MISSING'> {
  override readonly name = 'WidgetError';
}

describe('ZenMeshError', () => {
  it('carries a stable code, the message and the cause', () => {
    const cause = new Error('disk full');
    const err = new WidgetError('ERR_WIDGET_BROKEN', 'the widget broke', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ERR_WIDGET_BROKEN');
    expect(err.message).toBe('the widget broke');
    expect(err.name).toBe('WidgetError');
    expect(err.cause).toBe(cause);
  });

  it('is recognised by its brand, narrowed by code, and plain errors are not', () => {
    const err = new WidgetError('ERR_WIDGET_MISSING', 'gone');
    expect(isZenMeshError(err)).toBe(true);
    expect(isZenMeshError(err, 'ERR_WIDGET_MISSING')).toBe(true);
    expect(isZenMeshError(err, 'ERR_WIDGET_BROKEN')).toBe(false);
    expect(isZenMeshError(Object.assign(new Error('x'), { code: 'ERR_WIDGET_MISSING' }))).toBe(false);
    expect(isZenMeshError(undefined)).toBe(false);
    expect(isZenMeshError('ERR_WIDGET_MISSING')).toBe(false);
  });
});
