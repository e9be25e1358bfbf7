"""What the tests and the bench run for real: private servers (servers), Celery processes
(workers), the pages captures load (pages), and machines of their own on this one (hosts).
Nothing in the product imports this package."""
