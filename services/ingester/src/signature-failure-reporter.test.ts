import { describe, expect, it } from 'vitest';
import { createSignatureFailureReporter } from './signature-failure-reporter.js';

describe('signature failure reporter', () => {
  it('reports counts per source in one call, nothing when there is nothing, and keeps counts a failed report had', async () => {
    const calls: Array<Array<{ sourceId: string; failures: number }>> = [];
    let fail = false;
    const reporter = createSignatureFailureReporter({
      report: async (counts) => {
        if (fail) throw new Error('backend unavailable');
        calls.push(counts);
      },
    });
    await reporter.flush();
    expect(calls).toEqual([]);
    for (let i = 0; i < 3; i++) reporter.count('src_a');
    reporter.count('src_b');
    fail = true;
    await reporter.flush();
    reporter.count('src_a');
    fail = false;
    await reporter.flush();
    expect(calls).toEqual([
      [
        { sourceId: 'src_a', failures: 4 },
        { sourceId: 'src_b', failures: 1 },
      ],
    ]);
    await reporter.flush();
    expect(calls).toHaveLength(1);
  });

  it('sends at most 1000 sources per report; the rest go in the next; stop() sends what is left', async () => {
    const calls: number[] = [];
    const reporter = createSignatureFailureReporter({
      report: async (counts) => {
        calls.push(counts.length);
      },
    });
    for (let i = 0; i < 1500; i++) reporter.count(`src_${i}`);
    await reporter.flush();
    reporter.start();
    await reporter.stop();
    expect(calls).toEqual([1000, 500]);
  });
});
