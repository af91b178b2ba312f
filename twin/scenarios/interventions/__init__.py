"""Built-in intervention families, one module each; importing a module registers its types."""
