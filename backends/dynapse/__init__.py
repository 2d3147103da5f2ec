"""dynapse adapter."""
