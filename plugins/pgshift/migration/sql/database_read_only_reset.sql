ALTER DATABASE {database} RESET default_transaction_read_only
