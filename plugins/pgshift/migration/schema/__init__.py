"""The migrated scope's schema on A and C: drift detected (:mod:`.drift`)."""
