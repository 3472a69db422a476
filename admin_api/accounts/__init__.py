"""Admin accounts: login, the caller, account administration and the audit trail."""
