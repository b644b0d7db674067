-- Can hash_record_extended hash this table's rows? Every column's type needs a default hash operator
-- class (its own, or one of a type it is binary-coercible to) with an extended hash function.
SELECT NOT EXISTS (
  SELECT 1
  FROM pg_attribute a
  WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
    AND NOT EXISTS (
      SELECT 1
      FROM pg_opclass oc
      JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
      JOIN pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amproclefttype = oc.opcintype AND p.amprocnum = 2
      WHERE oc.opcdefault
        AND (oc.opcintype = a.atttypid
             OR EXISTS (SELECT 1 FROM pg_cast c
                         WHERE c.castsource = a.atttypid AND c.casttarget = oc.opcintype AND c.castmethod = 'b')))
) AS hashable
