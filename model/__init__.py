"""The fence model: one declaration of the state machine, checked with Z3."""
