"""The life of a run folder: creation, lock, status, signals, resume (folder, runner), the
model checkpoints and training states in it (checkpoints), and the library side of
`cdlite sample` and `cdlite evaluate` (commands). Recipes reach it as values (recipe.Recipe)."""
