import { describe, expect, it } from 'vitest';
import { HandbackLedger } from '../../src/jobs/handback.js';

function ledger(): { ledger: HandbackLedger; advance: (ms: number) => void } {
  let now = 1_000_000;
  return {
    ledger: new HandbackLedger({ windowMs: 600_000, acquireBackoffInitialMs: 2_000, acquireBackoffMaxMs: 60_000 }, () => now),
    advance: (ms) => {
      now += ms;
    },
  };
}

describe('HandbackLedger', () => {
  it('bars a job handed back after failures for the window, then forgets it', () => {
    const { ledger: l, advance } = ledger();
    l.bar(7);
    expect(l.isBarred(7)).toBe(true);
    expect(l.isBarred(8)).toBe(false);
    advance(600_000 - 1);
    expect(l.barredIds()).toEqual([7]);
    advance(1);
    expect(l.isBarred(7)).toBe(false);
    expect(l.barredIds()).toEqual([]);
  });

  it('delays acquisition after rounds that handed jobs back unrun: 2 s doubling to 60 s; a clean round resets it', () => {
    const { ledger: l } = ledger();
    expect(l.acquireDelayMs()).toBe(0);
    const delays: number[] = [];
    for (let round = 0; round < 8; round++) {
      l.roundEnded(1);
      delays.push(l.acquireDelayMs());
    }
    expect(delays).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    l.roundEnded(0);
    expect(l.acquireDelayMs()).toBe(0);
    l.roundEnded(3);
    expect(l.acquireDelayMs()).toBe(2_000);
  });

  it('the delay runs down with time', () => {
    const { ledger: l, advance } = ledger();
    l.roundEnded(1);
    advance(1_500);
    expect(l.acquireDelayMs()).toBe(500);
    advance(1_000);
    expect(l.acquireDelayMs()).toBe(0);
  });
});
