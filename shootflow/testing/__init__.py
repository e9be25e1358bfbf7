"""What the tests and the bench run for real: private servers (servers), Celery processes
(workers) and the pages captures load (pages). Nothing in the product imports this package."""
