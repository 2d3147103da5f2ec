"""xylo adapter."""
