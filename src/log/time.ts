/**
 * pino's `timestamp` option: `,"time":"<ISO 8601 UTC>"`, the same text as
 * pino.stdTimeFunctions.isoTime. Every login writes two lines or more, and a Date with its
 * toISOString() is most of a line's cost; within one minute only the seconds and milliseconds
 * change, so the date, hour and minute are kept and the rest is written from the clock.
 */
export function isoTimestamp(now: () => number = Date.now): () => string {
  let minuteStart = Number.NaN;
  let prefix = '';
  return () => {
    const ms = now();
    const into = ms - minuteStart;
    // Outside the minute kept (or the clock went back): one Date, and its minute kept.
    if (!(into >= 0 && into < 60_000)) {
      const iso = new Date(ms).toISOString();
      // Years past 9999 come out as +YYYYYY-…; keep nothing for those.
      if (iso.length !== 24) return `,"time":"${iso}"`;
      minuteStart = ms - (((ms % 60_000) + 60_000) % 60_000);
      prefix = `,"time":"${iso.slice(0, 17)}`;
      return `,"time":"${iso}"`;
    }
    const milli = into % 1000;
    const sec = (into - milli) / 1000;
    return `${prefix}${sec < 10 ? '0' : ''}${sec}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z"`;
  };
}
