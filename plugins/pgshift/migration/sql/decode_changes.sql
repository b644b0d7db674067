-- On B: consume a logical slot's changes up to B's replay position, as pgoutput protocol-1 messages for one
-- publication (the migrated tables). Consumed: the next call starts after these.
SELECT data
FROM pg_logical_slot_get_binary_changes(%(slot)s, NULL, NULL,
                                        'proto_version', '1', 'publication_names', %(publication)s)
