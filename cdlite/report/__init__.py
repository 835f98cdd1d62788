"""The report of one pipeline run: its summary table, verdict and report.md (tables), and its
figures (figures, frontier_plot). It reads metrics.json as cdlite.experiments writes it."""
