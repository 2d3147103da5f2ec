"""lava adapter."""
