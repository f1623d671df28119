"""The drift consumer (``fraudstream drift``): PSI and KS per feature over tumbling event-time windows.

``config.py`` holds the configuration and thresholds; ``statistics.py`` PSI and binned KS;
``windows.py`` the mergeable window state and the window clock (event time, grace, late events);
``consumer.py`` the confluent-kafka loop that reads ``decisions``, produces ``drift.reports`` and
commits offsets only after a window's report. Nothing is imported here, so reading the
configuration does not load the statistics.
"""
