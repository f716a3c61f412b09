"""What to train beside a task: auxiliary tasks derived from its structure (restrictions,
intermediates, position prediction, longer variants), each checked against the primary.  No torch."""
