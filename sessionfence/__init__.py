"""sessionfence: prove, test and implement the session-file fingerprint fence."""
