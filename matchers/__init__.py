"""Pure normalisation, blocking and scoring of identities: no I/O, no services."""
