"""The scoring worker (``fraudstream worker``): transactions and labels in, one decision per transaction out.

``processor.py`` holds the logic (decode, validate, features, micro-batch scoring, reasons,
dead-lettering) with no Faust in it; ``app.py`` wires it into a faust-streaming app with tables
and changelog writes; ``feed.py`` hands it the source records a fetch at a time;
``model_watch.py`` follows the production alias; ``shadow.py`` is the optional River challenger;
``metrics.py`` the Prometheus metrics.
"""

from consumers.scoring.processor import ScoringProcessor
from consumers.scoring.records import BatchResult, InputEvent, OutputMessage

__all__ = ["BatchResult", "InputEvent", "OutputMessage", "ScoringProcessor"]
