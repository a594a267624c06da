"""`python -m signprep`: the same command line as the `signprep` script."""

from signprep.cli import app

app(prog_name="signprep")
