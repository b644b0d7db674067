DROP SUBSCRIPTION {subscription}
