import { CircuitState } from 'cockatiel';

/** A circuit breaker's state as logs, metrics and health report it. */
export type BreakerState = 'closed' | 'half-open' | 'open' | 'isolated';

export function breakerStateOf(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Open:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Isolated:
      return 'isolated';
    default:
      return 'closed';
  }
}
