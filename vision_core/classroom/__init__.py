"""Classroom: the queue that turns a class's runs into worker processes (``jobs``), one run's process
(``worker``), the same queue on a Ray cluster (``ray_backend``), and the server's count of wrong teacher
passwords (``password_tries``).

The top of the core: imports training, runs and limits. Nothing in the core imports it but the CLI.
"""
