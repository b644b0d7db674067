ALTER DATABASE {database} RESET pgshift.fence
