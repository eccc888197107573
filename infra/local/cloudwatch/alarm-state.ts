/**
 * An alarm's state as CloudWatch keeps it: the value, the reason in words and as JSON, and when it was
 * entered. Every alarm starts in INSUFFICIENT_DATA with CloudWatch's "Unchecked: Initial alarm creation".
 */

/** The three alarm states. */
const ALARM_STATES = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;
export type AlarmStateValue = (typeof ALARM_STATES)[number];

/** An alarm's current (or previous) state. */
export interface AlarmState {
  readonly value: AlarmStateValue;
  readonly reason: string;
  /** The reason as JSON text; the initial state has none. */
  readonly reasonData?: string;
  /** Epoch milliseconds the state was entered. */
  readonly timestamp: number;
}

/** The state an alarm is created in. */
export function initialState(createdAt: number): AlarmState {
  return { value: 'INSUFFICIENT_DATA', reason: 'Unchecked: Initial alarm creation', timestamp: createdAt };
}
