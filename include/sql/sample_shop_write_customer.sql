UPDATE customers SET visits = visits + 1 WHERE id = %s
