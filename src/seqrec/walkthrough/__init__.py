"""The example user through every model: explanations, tables, the HTML report."""
