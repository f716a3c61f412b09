"""Train, measure, judge: the model, training, measurements, statistics, claims, the run store and
runner, reports, and the ``lengthgen`` command line."""
