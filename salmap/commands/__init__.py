"""The ``salmap`` subcommands, one module each."""
