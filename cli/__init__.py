"""The `devicecare` command line: one package above all others that composes their commands."""
