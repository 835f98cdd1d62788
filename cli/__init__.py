"""cdlite's command line (installed as the import package `cdlite_cli`)."""
