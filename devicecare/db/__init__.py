"""The database: versioned migrations and edition-aware maintenance."""
