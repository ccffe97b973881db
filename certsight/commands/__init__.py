"""Click commands that live in their own modules, each registered by ``certsight.cli``.

A command here is a thin adapter over one module of logic, so that the CLI module stays a
list of commands and colleagues can add commands without editing the same file.
"""
