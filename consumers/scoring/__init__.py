"""The scoring worker (``fraudstream worker``): transactions and labels in, one decision per transaction out.

``worker.py`` wires the named parts (its docstring has the table): ``app.py`` the Faust app,
``feed.py`` the source records a fetch at a time, ``state_store.py`` the tables' local stores,
``processor.py`` the logic (decode, validate, features, micro-batch scoring, reasons,
dead-lettering) with no Faust in it, ``delivery.py`` the outputs to Kafka, ``model_watch.py`` the
production model, ``metrics.py`` Prometheus, ``shadow.py`` the optional River challenger;
``records.py`` the types they pass, ``config.py`` the configuration. Nothing is imported here, so
reading the configuration does not load Faust.
"""
