"""What a task is and what the theorems say: the sympy task language, its solver with provenance,
serialization, structure profiles and the auxiliary-task bound.  No torch."""
