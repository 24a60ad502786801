"""PURE: rule files -> validated values. Reads YAML text; no database, queue or network."""
