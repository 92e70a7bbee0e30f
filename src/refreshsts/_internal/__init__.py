"""Machinery shared by the public modules; nothing here is public API."""
