"""Summary reports: rollups counted as feedback is accepted, report definitions, periods
in a zone's whole days, the figures read from the rollups, their rendering, and the
scheduler that sends them (see the README's "Summary reports")."""
