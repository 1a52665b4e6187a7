// Small pieces several pages share: reading results, labels, the test actions a role may take.

export const REC_LABEL = {
  keep_running: "Keep running",
  ship: "Ship",
  stop_no_winner: "Stop: no winner",
  stop_guardrail: "Stop: guardrail",
};

// The metric the results lead with: the primary one, else the first.
export function primaryOf(results) {
  const ms = (results && results.metrics) || [];
  return ms.find((m) => m.role === "primary") || ms[0] || null;
}

export function daysRunning(test) {
  return test.started_at ? (Date.now() - test.started_at) / 86400000 : null;
}

// A variant's observed value in a segment: its rate, mean, ratio or quantile.
export function valueOf(kind, v) {
  if (!v || !v.n) return null;
  switch (kind) {
    case "binomial":
    case "retention":
      return (v.conversions ?? 0) / v.n;
    case "ratio":
      return v.denominator_sum ? v.numerator_sum / v.denominator_sum : null;
    case "quantile":
      return v.quantile_hat ?? null;
    default:
      return (v.sum ?? 0) / v.n;
  }
}

// What each method says about one variant against the control (a method the statistics refused
// carries {error}).
export function readComparison(c) {
  const rel = (m) => (c && c[m] && !c[m].error ? c[m].relative || null : null);
  return { freq: rel("frequentist"), seq: rel("sequential"), bayes: rel("bayesian") };
}
