-- The subscription learns the publication's tables it does not have yet and copies their rows (copy_data).
ALTER SUBSCRIPTION {subscription} REFRESH PUBLICATION
