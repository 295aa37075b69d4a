from sfteval.cli import app

app(prog_name="sfteval")
