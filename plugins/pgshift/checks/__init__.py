"""Read-only checks shared by sensors (poke mode) and the deferrable trigger (in a thread)."""
