/**
 * How CloudWatch writes numbers and times in alarm reasons, reason data, events and notifications, so the
 * local ones read like AWS's: numbers as Java doubles (`1.0`, `99.5`, `1.5E10`), datapoint times in reasons
 * as `dd/MM/yy HH:mm:ss` (UTC), timestamps as `2026-05-12T06:00:00.000+0000`, event times to the second,
 * and the long form composite alarm reasons use (`Tuesday 12 May, 2026 06:00:00 UTC`).
 */

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** A number as Java's `Double.toString` writes it (CloudWatch is written in Java): `1.0`, `0.5`, `1.5E10`. */
export function javaDouble(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  const magnitude = Math.abs(n);
  if (magnitude !== 0 && (magnitude >= 1e7 || magnitude < 1e-3)) {
    const [mantissa = '0', exponent = '0'] = n.toExponential().split('e');
    return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
  }
  const text = String(n);
  return text.includes('.') ? text : `${text}.0`;
}

/** A datapoint's time as alarm reasons show it: `12/05/26 06:00:00` (day/month/year, UTC). */
export function reasonTime(millis: number): string {
  const d = new Date(millis);
  return (
    `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCFullYear() % 100)} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

/** A timestamp as alarm states, reason data and notifications carry it: `2026-05-12T06:00:00.000+0000`. */
export function cloudWatchTimestamp(millis: number): string {
  return `${new Date(millis).toISOString().slice(0, -1)}+0000`;
}

/** An EventBridge event's `time`: ISO 8601 to the second. */
export function eventTime(millis: number): string {
  return `${new Date(millis).toISOString().slice(0, 19)}Z`;
}

/** The long form of composite alarm reasons: `Friday 22 July, 2022 15:57:45 UTC`. */
export function longTime(millis: number): string {
  const d = new Date(millis);
  return (
    `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}, ${d.getUTCFullYear()} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

/** `1 datapoint` / `2 datapoints` (any noun with a regular plural). */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
