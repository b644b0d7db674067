-- On A: subscribe to C from the fallback slot, so every write made on C itself reaches A. No copy (A already
-- equals C), and origin = none: only changes made on C itself, never ones C's own subscription applied (no loop
-- back to A before the finalize drops it; in native mode the slot is made before the fence and relies on it).
CREATE SUBSCRIPTION {subscription}
    CONNECTION %(conninfo)s
    PUBLICATION {publication}
    WITH (create_slot = false, slot_name = %(slot)s, copy_data = false, origin = none, enabled = true)
