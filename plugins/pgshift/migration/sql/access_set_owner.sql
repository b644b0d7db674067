ALTER {kind} {target} OWNER TO {owner}
