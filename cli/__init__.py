"""The shell: the ``fraudstream`` command (``main.py`` and one module per command group), the demo,
and control of the local Kafka broker. The top layer: it may import every package, and none imports it."""
