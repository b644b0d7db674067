-- On C: subscribe to B through the logical slot created on B beforehand (a standby cannot create it
-- for us here without the primary's help), copying the existing rows first unless the parallel initial copy put them
-- there already (as of the slot's confirmed position).
CREATE SUBSCRIPTION {subscription}
    CONNECTION %(conninfo)s
    PUBLICATION {publication}
    WITH (create_slot = false, slot_name = %(slot)s, copy_data = %(copy_data)s, enabled = true)
