INSERT INTO carts (customer_id, total, note) VALUES (%s, %s, 'live')
