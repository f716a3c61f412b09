"""A first look at extrapolation by association (Cai et al., NeurIPS 2025), at toy scale.

Main task: capitalize-reverse, trained at lengths 1..8 with RoPE (as in the paper).  Conditions:
the main task alone; with reverse trained longer (1..16, aux/main length ratio 2, inside the
paper's window [0.5, 2]); with copy trained longer (1..16), the unrelated control.  The
prediction of which auxiliary transfers comes from the two definitions alone
(``auxtasks.relatedness``, recorded before training): capitalize-reverse ~ reverse scores 0.93
(related: same coupling, same support shape, a value map of it), ~ copy below the threshold.

A pilot, not the transfer suite of issue 11: one group, 5 seeds, no ratio sweep, no head-reuse
maps, no pretraining.  Settings were not tuned: the default suite's model and budget, which fit
reversal with RoPE in 2000 steps (reports/default); whether they fit this mixture is read off
training-length validation in the report (a claim whose models do not fit is inconclusive).
"""

from verify.suite import Condition, Item, Suite, TaskPlan, Transfers

SUITE = Suite(
    name="transfer-pilot",
    description="capitalize-reverse (1..8) alone, with reverse (1..16), and with copy (1..16, the unrelated control)",
    plans=(TaskPlan("capitalize_reverse", "rope", "RoPE as in Cai et al.; it fits reversal in 2000 steps here"),),
    seeds=(0, 1, 2, 3, 4),
    train_max=8,
    test_factor=3,
    steps=2000,
    conditions=(
        Condition("alone"),
        Condition("with-reverse", (Item("reverse", lengths=(1, 16)),),
                  why="the related auxiliary, trained at twice the main task's lengths"),
        Condition("with-copy", (Item("copy", lengths=(1, 16)),),
                  why="an unrelated auxiliary of the same length (control)"),
    ),
    claims=(
        Transfers("alone", "with-reverse", published="transfer"),
        Transfers("alone", "with-copy", published="none"),
    ),
)
