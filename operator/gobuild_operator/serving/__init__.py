"""What keeps several operator replicas serving as one: the leader Lease and the webhook's TLS."""
