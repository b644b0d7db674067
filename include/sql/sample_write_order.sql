INSERT INTO orders (customer, amount, note) VALUES (%s, %s, 'live')
