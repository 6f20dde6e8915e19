/** An ISO-8601 duration (`P1Y2M10DT2H30M`, `P2W`, `PT10S`), split into calendar and clock parts. */
export interface IsoDuration {
  years: number;
  months: number;
  days: number;
  ms: number;
}

const PATTERN =
  /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,3})?)S)?)?$/;

/** Parses a non-zero duration; `undefined` when the text is not one. */
export function parseDuration(text: string): IsoDuration | undefined {
  const m = PATTERN.exec(text);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i] ?? 0);
  const d: IsoDuration = {
    years: n(1),
    months: n(2),
    days: n(3) * 7 + n(4),
    ms: Math.round((n(5) * 3600 + n(6) * 60 + n(7)) * 1000),
  };
  if (d.years + d.months + d.days + d.ms === 0) return undefined;
  if (d.years > 1000 || d.months > 12_000 || d.days > 366_000 || d.ms > 366_000 * 86_400_000)
    return undefined;
  return d;
}

/**
 * Adds a duration in UTC calendar arithmetic: years and months move the calendar
 * (31 Jan + P1M = 28/29 Feb, clamped to the month's last day), then days, then time.
 */
export function addDuration(from: Date, d: IsoDuration): Date {
  const t = new Date(from.getTime());
  const totalMonths = t.getUTCMonth() + d.months + d.years * 12;
  const day = t.getUTCDate();
  t.setUTCDate(1);
  t.setUTCFullYear(t.getUTCFullYear() + Math.floor(totalMonths / 12), totalMonths % 12);
  const lastDay = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 0)).getUTCDate();
  t.setUTCDate(Math.min(day, lastDay));
  t.setUTCDate(t.getUTCDate() + d.days);
  return new Date(t.getTime() + d.ms);
}
