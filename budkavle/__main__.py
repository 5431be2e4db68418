from budkavle.cli import app

app(prog_name="budkavle")
