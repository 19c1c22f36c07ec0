"""The HTML report: numbers (tables), pictures (plots), layout (html), and the live state read from Redis."""
