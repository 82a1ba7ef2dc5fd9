/** .NET `TimeSpan` strings as Hannibal's JSON carries them (`"1.00:00:00"`, `"00:15:00"`). */

/** Milliseconds of a .NET `TimeSpan` string, `[-][d.]hh:mm:ss[.fffffff]`. */
export function timeSpanMs(value: string): number {
  const match = /^(-)?(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$/.exec(value);
  if (match === null) throw new Error(`not a TimeSpan: ${value}`);
  const [, sign, days = '0', hours = '0', minutes = '0', seconds = '0', fraction = '0'] = match;
  const ms =
    ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 + Number(seconds) * 1000 + Number(`0.${fraction}`) * 1000;
  return sign === '-' ? -ms : ms;
}
