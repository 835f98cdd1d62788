"""The lessons, shipped inside the cdlite package as cdlite.course.lessons (setup.cfg maps this
folder there), so that a pip-installed user gets them: `cdlite lesson list`, `cdlite lesson copy
DIR`. Each lesson is a script (and a jupytext notebook), not a module to import."""
