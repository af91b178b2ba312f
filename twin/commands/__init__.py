"""Command-line commands, one module per area; ``twin.cli`` assembles them.

Only these modules print. Each command calls one library function.
"""
