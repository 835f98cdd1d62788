"""Grids of runs: the sweep folder and its ledger (sweep), the tasks a worker runs (tasks),
where they run (executors), the table, figures and report across cells (table, figures) and
the shipped studies (studies)."""
