"""Built-in container apps."""
