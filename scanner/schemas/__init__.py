"""JSON Schemas of camscan documents (package data)."""
